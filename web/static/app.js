// latentq pages: step through per-epoch image sequences, and refresh live parts while runs move.
// No libraries; the server renders everything, this only swaps server-rendered parts in place.
(function () {
  "use strict";

  function setupStepper(fig, keepAt) {
    var imgs = fig.querySelectorAll(".frames img");
    var range = fig.querySelector("input[type=range]");
    var label = fig.querySelector(".step-label");
    if (!imgs.length || !range) return;
    function show(i) {
      i = Math.max(0, Math.min(imgs.length - 1, i));
      imgs.forEach(function (img, j) { img.hidden = j !== i; });
      range.value = String(i);
      fig.dataset.index = String(i);
      fig.dataset.atEnd = String(i === imgs.length - 1);
      label.textContent = "epoch " + imgs[i].dataset.step + " of " + imgs.length;
    }
    range.addEventListener("input", function () { show(parseInt(range.value, 10)); });
    fig.querySelector(".prev").addEventListener("click", function () { show(parseInt(range.value, 10) - 1); });
    fig.querySelector(".next").addEventListener("click", function () { show(parseInt(range.value, 10) + 1); });
    show(keepAt === undefined ? imgs.length - 1 : keepAt);
  }

  function setupSteppers(root, previous) {
    root.querySelectorAll("figure.stepper").forEach(function (fig, k) {
      var before = previous && previous[k];
      // Follow the newest epoch unless the reader stepped back to look at an older one.
      var keep = before && before.atEnd === "false" ? parseInt(before.index, 10) : undefined;
      setupStepper(fig, keep);
    });
  }

  document.addEventListener("keydown", function (ev) {
    var fig = document.querySelector("figure.stepper:hover") || document.querySelector("figure.stepper");
    if (!fig || ev.target.tagName === "INPUT") return;
    if (ev.key === "ArrowLeft") fig.querySelector(".prev").click();
    if (ev.key === "ArrowRight") fig.querySelector(".next").click();
  });

  setupSteppers(document);

  var jsonUrl = document.body.dataset.json;
  if (!jsonUrl || !window.fetch) return;
  var last = null;
  var badge = document.getElementById("live");

  // Ages tick every second; only a change in the runs themselves is worth a redraw.
  function fingerprint(data) { return JSON.stringify(data, function (k, v) { return k === "age" ? undefined : v; }); }

  function swapParts() {
    return fetch(window.location.href, { headers: { "Accept": "text/html" } })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live-part]").forEach(function (part) {
          var fresh = doc.querySelector('[data-live-part="' + part.dataset.livePart + '"]');
          if (!fresh) return;
          var steppers = Array.prototype.map.call(part.querySelectorAll("figure.stepper"), function (f) {
            return { index: f.dataset.index, atEnd: f.dataset.atEnd };
          });
          // Runs ticked for "compare selected" stay ticked through a redraw.
          var ticked = Array.prototype.map.call(part.querySelectorAll("input[type=checkbox]:checked"),
                                                function (box) { return box.value; });
          part.innerHTML = fresh.innerHTML;
          part.querySelectorAll("input[type=checkbox]").forEach(function (box) {
            if (ticked.indexOf(box.value) >= 0) box.checked = true;
          });
          setupSteppers(part, steppers);
        });
      });
  }

  function poll() {
    fetch(jsonUrl, { headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var fp = fingerprint(data);
        if (badge) badge.hidden = !data.live;
        var changed = last !== null && fp !== last;
        last = fp;
        return (changed ? swapParts() : Promise.resolve()).then(function () {
          window.setTimeout(poll, data.live ? 2000 : 10000);
        });
      })
      .catch(function () { window.setTimeout(poll, 10000); });
  }
  poll();
})();
