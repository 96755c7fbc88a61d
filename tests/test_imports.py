"""TensorFlow only where training happens: the CLI and the worker's parent never import it."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from latentq.cli.errors import run_cli
from latentq.cli.main import cli
import latentq.worker.app, latentq.worker.tasks, latentq.worker.jobs, latentq.runtime.job, latentq.spec, latentq.datasets
import latentq.worker.process, latentq.worker.supervisor, latentq.worker.live, latentq.worker.trainer
for args in (["--help"], ["models", "--json"], ["datasets", "--json"], ["run", "stacked-ae", "--dry-run"],
             ["worker", "--gpus", "0,1", "--dry-run"]):
    try:
        run_cli(cli, args)
    except SystemExit as done:
        assert not done.code, (args, done.code)
heavy = sorted(m for m in ("tensorflow", "keras", "torch", "jax") if m in sys.modules)
print(",".join(heavy) or "none")
"""


def test_cli_and_worker_modules_do_not_import_tensorflow(lq_home):
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "none", out.stdout


READ_ONLY = """
import sys
from latentq.cli.errors import run_cli
from latentq.cli.main import cli
try:
    run_cli(cli, sys.argv[1:])
except SystemExit as done:
    assert not done.code, done.code
print(",".join(sorted(m for m in ("sqlalchemy.orm", "alembic", "latentq.db.store") if m in sys.modules)) or "none")
"""


def test_read_only_commands_import_neither_the_orm_nor_alembic(lq_home, store):
    run_id, _ = store.create_run({"kind": "train", "recipe": "linear-ae", "dataset": "digits", "epochs": 1,
                                  "batch_size": 8, "params": {}})
    for args in (["status", run_id[:6]], ["show", run_id], ["list"], ["list", "--json"], ["status", run_id, "--json"]):
        out = subprocess.run([sys.executable, "-c", READ_ONLY, *args], capture_output=True, text=True, check=True)
        assert out.stdout.strip().splitlines()[-1] == "none", (args, out.stdout)
