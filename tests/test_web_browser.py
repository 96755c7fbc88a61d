"""The pages in a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium),
served by a real `latentq ui` process: every picture loads, the stepper steps, a page refreshes
itself while its run moves, and a report opens with the network off.

Screenshots of each page land in LATENTQ_SCREENSHOTS when it is set (else the test's tmp folder)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from support import IN_CI, fake_run, wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ALL_IMAGES_LOADED = """
const imgs = Array.from(document.images);
return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0) ? imgs.length : 0;"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        message = "chromium / chromedriver missing: run .ci/install-browser"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = Path(__import__("tempfile").mkdtemp(prefix="latentq-chromium-"))
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    os.environ.setdefault("SE_OFFLINE", "true")  # never let selenium-manager look for a driver online
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("LATENTQ_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def server(lq_home, store):
    port = _free_port()
    log = open(lq_home.parent / "ui.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "latentq.cli.main", "ui", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return urllib.request.urlopen(url + "/runs.json", timeout=2).status == 200
        except OSError:
            assert proc.poll() is None, (lq_home.parent / "ui.log").read_text()
            return False

    wait_for(up, timeout=60, what="latentq ui to answer")
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def _screenshot(driver, path: Path) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(height, 600), 4000))
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)


def test_runs_run_and_compare_pages_render_with_every_image_loaded(browser, server, store, settings, shots):
    a = fake_run(store, settings, name="alpha", group="sweep-1", params={"codings": 4})
    b = fake_run(store, settings, name="beta", group="sweep-1", seed=1, params={"codings": 8})
    browser.get(server + "/")
    rows = browser.find_elements("css selector", "table.runs tbody tr")
    assert sorted(r.get_attribute("data-id") for r in rows) == sorted([a, b])
    _screenshot(browser, shots / "runs.png")

    browser.get(f"{server}/run/{a[:6]}")
    assert browser.find_element("css selector", "h1 .id").text == a
    assert wait_for(lambda: browser.execute_script(ALL_IMAGES_LOADED), timeout=20, what="images") == 4
    stepper = browser.find_element("css selector", "figure.stepper")
    shown = lambda: [i.get_attribute("data-step") for i in stepper.find_elements("css selector", "img")  # noqa: E731
                     if i.is_displayed()]
    assert shown() == ["3"]
    stepper.find_element("css selector", "button.prev").click()
    assert shown() == ["2"] and "epoch 2 of 3" in stepper.text
    assert len(browser.find_elements("css selector", "svg.chart")) >= 2
    _screenshot(browser, shots / "run.png")

    browser.get(f"{server}/compare?group=sweep-1")
    assert wait_for(lambda: browser.execute_script(ALL_IMAGES_LOADED), timeout=20, what="images") == 2
    assert len(browser.find_elements("css selector", "svg.chart polyline")) >= 4  # two runs on each chart
    assert "params.codings" in browser.find_element("css selector", "body").text
    _screenshot(browser, shots / "compare.png")


def test_runs_ticked_on_the_runs_page_open_the_compare_page(browser, server, store, settings):
    a = fake_run(store, settings, name="alpha")
    b = fake_run(store, settings, name="beta", seed=1)
    c = fake_run(store, settings, name="gamma", seed=2)
    browser.get(server + "/")
    for run_id in (a, c):
        browser.find_element("css selector", f'table.runs tr[data-id="{run_id}"] input[type=checkbox]').click()
    browser.find_element("css selector", "#compare-selected").click()
    wait_for(lambda: "/compare" in browser.current_url, timeout=20, what="the compare page")
    rows = browser.find_elements("css selector", "table.runs tbody tr")
    assert sorted(r.get_attribute("data-id") for r in rows) == sorted([a, c]), browser.current_url
    assert b not in browser.current_url


def test_a_run_page_grows_its_curve_and_grids_while_the_run_trains(browser, server, store, settings):
    from latentq import pictures

    import numpy as np

    run_id = fake_run(store, settings, status="running", sample_epochs=2)
    browser.get(f"{server}/run/{run_id}")
    count = lambda: len(browser.find_elements("css selector", "svg.chart:first-of-type circle"))  # noqa: E731
    assert count() == 2 * 2  # loss and val_loss, two epochs
    wait_for(lambda: browser.find_element("id", "live").is_displayed(), timeout=20, what="live badge")
    # The run moves on, as a worker would write it: a third epoch's numbers and sample grid.
    store.record_metrics(run_id, 3, {"loss": 0.3, "val_loss": 0.35, "fcd": 10.0})
    pictures.save_grid(settings.artifact_root / run_id / "images/samples/epoch_003.png",
                       np.random.default_rng(3).random((16, 8, 8)), cols=4)
    store.add_artifact(run_id, "samples_epoch", "images/samples/epoch_003.png")
    store.set_progress(run_id, "test", 3)
    wait_for(lambda: count() == 3 * 2, timeout=30, what="the curve to grow without a reload")
    frames = browser.find_elements("css selector", "figure.stepper img")
    assert len(frames) == 3 and frames[-1].is_displayed()  # following the newest epoch
    assert wait_for(lambda: browser.execute_script(ALL_IMAGES_LOADED), timeout=20, what="images")


def test_a_report_opens_with_the_network_off(browser, lq_home, store, settings, shots, tmp_path):
    from latentq.web.report import write_report

    run_id = fake_run(store, settings, name="offline")
    report = write_report(store, run_id, tmp_path / "report.html")
    browser.get("about:blank")
    browser.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    try:
        browser.get(report.as_uri())
        assert wait_for(lambda: browser.execute_script(ALL_IMAGES_LOADED), timeout=20, what="images") == 4
        assert browser.execute_script("return navigator.onLine") is False
        stepper = browser.find_element("css selector", "figure.stepper")
        stepper.find_element("css selector", "button.prev").click()  # the inline script works too
        assert "epoch 2 of 3" in stepper.text
        _screenshot(browser, shots / "report.png")
    finally:
        browser.delete_network_conditions()


@pytest.mark.integration
def test_a_real_training_run_grows_its_curve_between_two_loads(browser, server, start_worker):
    import json

    from support import cli

    start_worker()
    submitted = cli("submit", "stacked-ae", "--dataset", "digits", "--epochs", "400", "--set", "hidden=8",
                    "--set", "codings=2", "--json")
    run_id = json.loads(submitted.stdout)["id"]
    try:
        epoch = lambda: json.loads(cli("status", run_id, "--json").stdout)["epoch"]  # noqa: E731
        wait_for(lambda: epoch() >= 2, what="two epochs")
        points = lambda: len(browser.find_elements("css selector", "svg.chart:first-of-type circle"))  # noqa: E731
        browser.get(f"{server}/run/{run_id}")
        first = points()
        assert first >= 2 * 2
        start = epoch()
        wait_for(lambda: epoch() >= start + 2, what="two more epochs")
        browser.get(f"{server}/run/{run_id}")
        assert points() > first
        assert "running" in browser.find_element("css selector", "h1").text
    finally:
        cli("cancel", run_id)
