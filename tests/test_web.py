"""The web app in process (Starlette's TestClient): every page and its JSON, and no URL that reaches
a file outside the artifact root. Real SQLite store, real PNG files."""

from __future__ import annotations

import os
import re

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from support import fake_run


@pytest.fixture
def client(settings):
    from latentq.web.app import create_app

    return TestClient(create_app(settings))


def test_runs_page_and_json_filter_by_status_recipe_group_and_name(client, store, settings):
    a = fake_run(store, settings, name="alpha", group="g1")
    b = fake_run(store, settings, recipe="stacked-ae", name="beta", group="g1", seed=1)
    c = fake_run(store, settings, name="gamma", status="running")
    rows = client.get("/runs.json").json()
    assert {r["id"] for r in rows["runs"]} == {a, b, c}
    assert rows["live"] is True  # a running run: the page keeps refreshing
    by_id = {r["id"]: r for r in rows["runs"]}
    assert by_id[a]["key_metric"] == {"name": "fcd", "value": pytest.approx(50.0 / 3)}
    assert by_id[c]["epoch"] == 3 and by_id[a]["age"].endswith("s")
    assert [r["id"] for r in client.get("/runs.json?status=running").json()["runs"]] == [c]
    assert [r["id"] for r in client.get("/runs.json?recipe=stacked-ae").json()["runs"]] == [b]
    assert {r["id"] for r in client.get("/runs.json?group=g1").json()["runs"]} == {a, b}
    assert [r["id"] for r in client.get("/runs.json?name=amm").json()["runs"]] == [c]
    html = client.get("/?group=g1").text
    assert f'href="/run/{a}"' in html and f'href="/run/{c}"' not in html and 'data-json="/runs.json?group=g1"' in html


def test_run_page_json_has_curves_steppable_grids_timeline_and_family(client, store, settings):
    run_id = fake_run(store, settings, name="alpha")
    page = client.get(f"/run/{run_id[:6]}.json").json()  # a prefix of the id works
    assert page["run"]["id"] == run_id and page["live"] is False
    assert [p[0] for p in page["series"]["loss"]] == [1, 2, 3]
    assert ["loss", "val_loss"] in page["charts"] and page["summary"]["params"] == 1234.0
    (seq,) = page["images"]["sequences"]
    assert [f["step"] for f in seq["frames"]] == [1, 2, 3] and seq["kind"] == "samples_epoch"
    assert [s["kind"] for s in page["images"]["singles"]] == ["reconstructions"]
    assert [t["message"] for t in page["timeline"]][-1] == "succeeded"
    for frame in seq["frames"]:
        got = client.get(frame["url"])
        assert got.status_code == 200 and got.content[:8] == b"\x89PNG\r\n\x1a\n"
    html = client.get(f"/run/{run_id}").text
    assert html.count('<figure class="stepper"') == 1 and html.count("<svg") == len(page["charts"])
    assert "http://" not in html and "https://" not in html  # nothing from the network
    assert client.get(f"/run/{run_id}/log.txt").text.strip().endswith("fake run alpha")


def test_run_page_lists_generation_children(client, store, settings):
    from latentq.spec import build_spec

    parent = fake_run(store, settings)
    spec = build_spec(kind="generate", recipe="vae", dataset="digits", epochs=1, parent=parent)
    child, _ = store.create_run(spec.model_dump(mode="json"))
    page = client.get(f"/run/{parent}.json").json()
    assert [c["id"] for c in page["children"]] == [child] and page["live"] is True
    assert client.get(f"/run/{child}.json").json()["parent"]["id"] == parent


def test_compare_by_ids_and_by_group(client, store, settings):
    a = fake_run(store, settings, group="sw", params={"codings": 4})
    b = fake_run(store, settings, group="sw", seed=1, params={"codings": 8})
    page = client.get("/compare.json?group=sw").json()
    assert set(page["ids"]) == {a, b}
    assert page["differences"]["params.codings"] == {a: 4, b: 8}
    assert page["finals"]["loss"][a] == pytest.approx(1 / 3) and page["finals"]["loss"][b] == pytest.approx(1 + 1 / 3)
    assert all(page["grids"][r]["path"] == "images/samples/epoch_003.png" for r in (a, b))
    by_ids = client.get("/compare.json", params={"ids": f"{a} {b[:7]}"}).json()
    assert by_ids["ids"] == [a, b]
    html = client.get("/compare?group=sw").text
    assert 'class="num best"' in html and html.count("<svg") == len(page["charts"])


def test_unknown_and_ambiguous_ids_are_404_with_the_reason(client, store, settings):
    ids = [fake_run(store, settings, sample_epochs=0) for _ in range(17)]  # 17 ids: two share a first digit
    first = {}
    for run_id in ids:
        first.setdefault(run_id[0], []).append(run_id)
    prefix, matches = next((p, m) for p, m in first.items() if len(m) > 1)
    got = client.get(f"/run/{prefix}.json")
    assert got.status_code == 404 and "ambiguous" in got.json()["error"] and matches[0] in got.json()["error"]
    assert client.get("/run/ffffffffffffff").status_code == 404
    assert "no run with id" in client.get("/run/nope.json").json()["error"]


def test_no_url_reaches_a_file_outside_the_artifact_root(client, store, settings, tmp_path):
    run_id = fake_run(store, settings, sample_epochs=1)
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    run_dir = settings.artifact_root / run_id
    os.symlink(secret, run_dir / "images" / "link.png")
    (settings.home / "next-to-runs.txt").write_text("top secret")
    probes = [
        f"/files/{run_id}/..%2F..%2Flatentq.db",
        f"/files/{run_id}/%2E%2E/%2E%2E/next-to-runs.txt",
        f"/files/{run_id}/..%2f..%2fnext-to-runs.txt",
        f"/files/{run_id}/images/link.png",
        f"/files/{run_id}/{secret}",
        f"/files/{run_id}//{secret}",
        "/files/..%2F/next-to-runs.txt",
        "/static/..%2F..%2F..%2Fcore%2Ffiles.py",
    ]
    for url in probes:
        got = client.get(url)
        assert got.status_code == 404, url
        assert b"top secret" not in got.content and b"SQLite format" not in got.content
    assert client.get(f"/files/{run_id}/images/samples/epoch_001.png").status_code == 200


def test_report_is_one_file_with_images_inline_and_no_network_urls(store, settings, tmp_path):
    from latentq.web.report import write_report

    run_id = fake_run(store, settings)
    out = write_report(store, run_id, tmp_path / "r.html")
    text = out.read_text()
    assert not re.search(r"https?://", text)
    srcs = re.findall(r'<img src="([^"]+)"', text)
    assert len(srcs) == 4 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<style>" in text and 'src="/static' not in text and 'href="/' not in text


def test_ui_refuses_a_non_loopback_host_without_allow_remote(lq_home):
    from latentq.cli.main import cli
    from latentq.cli.ui import is_loopback

    result = CliRunner().invoke(cli, ["ui", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "--allow-remote" in result.output and "no login" in result.output
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")


def test_run_page_shows_the_step_of_the_epoch_or_the_phase_and_marks_a_lone_value(client, store, settings):
    from sqlalchemy import update

    from latentq.db.schema import Run

    run_id = fake_run(store, settings, name="live", status="running")
    with store.session() as s, s.begin():
        s.execute(update(Run).where(Run.id == run_id).values(epoch=1, step=120, steps=600))
    store.record_metrics(run_id, 3, {"val_mse": 0.0512})  # recorded once, at the last epoch
    page = client.get(f"/run/{run_id}.json").json()
    assert (page["run"]["step"], page["run"]["steps"], page["run"]["phase"]) == (120, 600, None)
    html = client.get(f"/run/{run_id}").text
    assert "epoch 2 step 120/600" in html
    assert ["val_mse"] in page["charts"] and 'class="lone"' in html and ">0.0512</text>" in html
    compare = client.get(f"/compare?ids={run_id}").text
    assert 'class="lone"' in compare and ">0.0512</text>" in compare
    with store.session() as s, s.begin():
        s.execute(update(Run).where(Run.id == run_id).values(phase="final pictures"))
    html = client.get(f"/run/{run_id}").text
    assert "· final pictures" in html and "step 120/600" not in html
