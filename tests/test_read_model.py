"""The read model (latentq.db.reads) behind `latentq list/show/watch` and the runs pages: a fixed
number of SQL statements however many runs or epochs, status objects that do not grow with the
epochs, every epoch in the history, and pages that reach the oldest run. Real SQLite and
PostgreSQL stores, rows bulk-inserted through the store's session (no training)."""

from __future__ import annotations

import inspect
import json
from contextlib import contextmanager
from datetime import timedelta
from typing import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import event, insert
from starlette.testclient import TestClient

from latentq.db import reads
from latentq.db.schema import Artifact, Metric, Run, RunStatus, utcnow
from latentq.db.store import Store

NAMES = ("loss", "val_loss", "fcd")


def add_runs(store: Store, count: int, epochs: int = 3, start: int = 0, status: RunStatus = RunStatus.SUCCEEDED,
             group: str | None = None) -> list[str]:
    """`count` runs with `epochs` epochs of NAMES each (loss = 1/epoch + run number), a step-0
    number and two files; run `start` is the newest. Returns their ids, newest first."""
    now = utcnow()
    ids = [f"run{start + i:06d}" for i in range(count)]
    spec = {"kind": "train", "recipe": "vae", "dataset": "digits", "epochs": epochs, "queue": "latentq"}
    with store.session() as s, s.begin():
        s.execute(insert(Run), [
            {"id": run_id, "kind": "train", "recipe": "vae", "dataset": "digits", "name": f"n{start + i}",
             "spec": json.dumps({**spec, "seed": start + i}), "queue": "latentq", "status": status, "attempts": 1,
             "max_attempts": 3, "created_at": now - timedelta(seconds=start + i), "queued_at": now, "epoch": epochs,
             "epochs": epochs, "cancel_requested": False, "group_name": group}
            for i, run_id in enumerate(ids)])
        s.execute(insert(Metric), [
            {"run_id": run_id, "step": epoch, "name": name, "value": 1.0 / epoch + start + i, "recorded_at": now}
            for i, run_id in enumerate(ids) for epoch in range(1, epochs + 1) for name in NAMES])
        s.execute(insert(Metric), [{"run_id": run_id, "step": 0, "name": "params", "value": 1234.0, "recorded_at": now}
                                   for run_id in ids])
        s.execute(insert(Artifact), [{"run_id": run_id, "kind": kind, "path": path, "created_at": now}
                                     for run_id in ids for kind, path in (("spec", "spec.json"), ("model", "model.keras"))])
    return ids


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """The SQL statements sent to the store's database inside the block."""
    with store.session() as s:
        engine = s.get_bind()
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request, tmp_path) -> Store:
    if request.param == "sqlite":
        return Store(f"sqlite:///{tmp_path / 'lq.db'}", tmp_path / "runs")
    return Store(request.getfixturevalue("own_pg_database"), tmp_path / "runs")


def test_listing_10_or_500_runs_sends_the_same_statements(any_store):
    add_runs(any_store, 10)
    reads.list_statuses(any_store, limit=1)  # connect first: a new connection's own statements are not the listing's
    with statements(any_store) as few:
        ten = reads.list_statuses(any_store, limit=10_000)
    add_runs(any_store, 490, start=10)
    with statements(any_store) as many:
        five_hundred = reads.list_statuses(any_store, limit=10_000)
    assert len(ten) == 10 and len(five_hundred) == 500
    assert len(few) == len(many) == 3  # runs, their latest metrics, their files
    last = five_hundred[-1]
    assert last["id"] == "run000499" and last["metrics"] == {"loss": pytest.approx(1 / 3 + 499),
                                                            "val_loss": pytest.approx(1 / 3 + 499),
                                                            "fcd": pytest.approx(1 / 3 + 499), "params": 1234.0}
    assert [a["kind"] for a in last["artifacts"]] == ["spec", "model"]
    assert set(last) == set(any_store.status("run000499"))  # the same keys as one run's status object


def test_latentq_list_sends_the_same_statements_for_10_and_500_runs(lq_home, store):
    from latentq.cli.main import cli

    def listed() -> tuple[list[dict], int]:
        with statements(store) as seen:
            result = CliRunner().invoke(cli, ["list", "--json", "--limit", "10000"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout), len(seen)

    add_runs(store, 10)
    listed()  # the first command of the process migrates and connects
    ten, few = listed()
    add_runs(store, 490, start=10)
    five_hundred, many = listed()
    assert len(ten) == 10 and len(five_hundred) == 500 and few == many
    assert five_hundred[0]["id"] == "run000000" and five_hundred[0]["metrics"]["loss"] == pytest.approx(1 / 3)


def test_the_runs_page_sends_the_same_statements_for_10_and_500_runs(settings, store):
    from latentq.web.app import Pages, create_app

    assert not any(inspect.iscoroutinefunction(getattr(Pages, view)) for view in ("runs", "run", "compare", "log", "file"))
    client = TestClient(create_app(settings))
    add_runs(store, 10)
    assert client.get("/runs.json").status_code == 200

    def page(url: str) -> tuple[dict | str, int]:
        with statements(store) as seen:
            got = client.get(url)
        assert got.status_code == 200
        return (got.json() if url.startswith("/runs.json") else got.text), len(seen)

    (ten, few), (ten_html, few_html) = page("/runs.json"), page("/")
    add_runs(store, 490, start=10)
    (many_rows, many), (many_html, many_html_count) = page("/runs.json"), page("/")
    assert len(ten["runs"]) == 10 and len(many_rows["runs"]) == 100  # a page of the newest
    assert few == many and few_html == many_html_count
    assert ten["older"] is None and many_rows["older"] == 2 and many_rows["page_urls"]["older"] == "/runs.json?page=2"
    assert many_rows["runs"][0]["key_metric"] == {"name": "fcd", "value": pytest.approx(1 / 3)}
    assert 'href="/?page=2"' in many_html and 'class="older"' in many_html and 'href="/?page=2"' not in ten_html


def test_paging_reaches_the_oldest_run_keeping_the_filters(settings, store):
    from latentq.web.app import create_app

    client = TestClient(create_app(settings))
    newest_first = add_runs(store, 230, group="g") + add_runs(store, 5, start=230)
    seen, url, pages = [], "/runs.json?group=g", 0
    while url:
        got = client.get(url).json()
        seen += [r["id"] for r in got["runs"]]
        url, pages = got["page_urls"]["older"], pages + 1
        assert url is None or "group=g" in url
    assert seen == newest_first[:230] and pages == 3
    last = client.get("/?group=g&page=3").text
    assert 'href="/?group=g&amp;page=2"' in last and "runs 201–230" in last and 'class="older"' not in last
    assert client.get("/runs.json?page=0").status_code == 400
    assert client.get("/runs.json?status=bogus").status_code == 400


def test_a_status_object_is_the_same_size_at_epoch_10_and_2000(any_store):
    (short,) = add_runs(any_store, 1, epochs=10)
    (long,) = add_runs(any_store, 1, epochs=2000, start=1)
    any_store.status(short)  # connect first
    with statements(any_store) as at_10:
        small = any_store.status(short)
    with statements(any_store) as at_2000:
        big = any_store.status(long)
    assert len(at_10) == len(at_2000) == 3
    assert abs(len(json.dumps(small, default=str)) - len(json.dumps(big, default=str))) <= 16
    assert big["epoch"] == 2000 and big["metrics"] == {"loss": pytest.approx(1 / 2000 + 1),
                                                       "val_loss": pytest.approx(1 / 2000 + 1),
                                                       "fcd": pytest.approx(1 / 2000 + 1), "params": 1234.0}
    assert any_store.latest_metrics(long) == big["metrics"]
    history = reads.history(any_store, long)
    assert set(history) == set(NAMES)
    assert [e for e, _ in history["loss"]] == list(range(1, 2001))
    assert history["loss"][-1][1] == pytest.approx(1 / 2000 + 1)
    assert reads.history(any_store, long, ["fcd"]).keys() == {"fcd"}


def test_progress_reads_only_what_the_display_shows(any_store):
    (run_id,) = add_runs(any_store, 1, epochs=50, status=RunStatus.RUNNING)
    any_store.status(run_id)
    with statements(any_store) as seen:
        shown = reads.progress(any_store, run_id)
    assert len(seen) == 2 and all("artifacts" not in s for s in seen)
    assert shown["status"] == RunStatus.RUNNING and (shown["epoch"], shown["epochs"]) == (50, 50)
    assert shown["metrics"] == {"loss": pytest.approx(1 / 50), "val_loss": pytest.approx(1 / 50)}
    from latentq.errors import NotFound

    with pytest.raises(NotFound):
        reads.progress(any_store, "nosuchrun")


def test_compare_reads_every_run_of_a_group_in_a_fixed_number_of_statements(store):
    def compared(count: int) -> int:
        with statements(store) as seen:
            page, found = reads.compare_data(store, [], group=f"g{count}")
        assert len(page["runs"]) == len(found) == count and page["charts"][0] == ["loss"]
        assert page["differences"]["seed"] and page["finals"]["params"][found[0]["id"]] == 1234.0
        return len(seen)

    add_runs(store, 3, group="g3")
    add_runs(store, 40, start=3, group="g40")
    assert compared(3) == compared(40)


def test_statuses_sets_and_the_cli_s_spelled_out_choices_agree():
    from latentq.cli.runs import STATUSES

    assert STATUSES == tuple(s.value for s in RunStatus)
    assert RunStatus.ACTIVE | RunStatus.TERMINAL == set(RunStatus) and not RunStatus.ACTIVE & RunStatus.TERMINAL
    assert "queued" in RunStatus.ACTIVE and RunStatus("failed").finished and not RunStatus.RUNNING.finished
