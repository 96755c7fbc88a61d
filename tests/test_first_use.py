"""What a new user trips on: files that take the umask, TensorFlow's C++ log kept out of the
terminal and run.log, `ui` on a busy port, `retry --local --json`, named SavedModel outputs."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys

import pytest

from support import cli

CPP_LOG_LINE = re.compile(r"^[IWEF]\d{4} ", re.MULTILINE)  # TensorFlow's (absl's) C++ log format


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_take_the_process_umask(tmp_path, mask, mode):
    from latentq.files import atomic_write, atomic_write_text

    old = os.umask(mask)
    try:
        text = atomic_write_text(tmp_path / "report.html", "<p>hi</p>")
        binary = atomic_write(tmp_path / "model.keras", lambda tmp: tmp.write_bytes(b"\0" * 10))
    finally:
        os.umask(old)
    assert stat.S_IMODE(text.stat().st_mode) == mode
    assert stat.S_IMODE(binary.stat().st_mode) == mode


def test_a_training_process_gets_tensorflow_quiet_unless_verbose(monkeypatch):
    from latentq.worker.process import _child_env

    monkeypatch.delenv("LATENTQ_TF_LOG", raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    env = _child_env()
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "3" and env["GRPC_VERBOSITY"] == "ERROR"
    monkeypatch.setenv("LATENTQ_TF_LOG", "verbose")
    assert _child_env()["TF_CPP_MIN_LOG_LEVEL"] == "0"


@pytest.mark.training
def test_a_gan_run_prints_none_of_tensorflows_cpp_lines(lq_home):
    """DCGAN's grappler pass logs `E0000 ... remapper failed: INVALID_ARGUMENT` on every run."""
    quiet = cli("run", "dcgan", "--dataset", "digits", "--epochs", "1", "--json")
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert json.loads(quiet.stdout)["status"] == "succeeded"
    assert not CPP_LOG_LINE.search(quiet.stderr), quiet.stderr[-2000:]
    verbose = cli("run", "dcgan", "--dataset", "digits", "--epochs", "1", "--json",
                  env={"LATENTQ_TF_LOG": "verbose"})
    assert verbose.returncode == 0 and CPP_LOG_LINE.search(verbose.stderr), verbose.stderr[-2000:]


def test_ui_on_a_busy_port_is_one_error_line(lq_home):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        result = subprocess.run([sys.executable, "-m", "latentq.cli.main", "ui", "--port", str(port)],
                                capture_output=True, text=True, timeout=60)
    finally:
        taken.close()
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    assert f"port {port}" in lines[0] and "--port" in lines[0] and "Errno" not in lines[0]


@pytest.mark.training
def test_retry_local_prints_json_only(store):
    from latentq.spec import build_spec

    spec = build_spec(kind="train", recipe="stacked-ae", dataset="digits", epochs=1,
                      params={"hidden": 16, "codings": 4})
    run_id, _ = store.create_run(spec.model_dump(mode="json"))
    store.cancel(run_id)
    result = cli("retry", run_id[:6], "--local", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    status = json.loads(result.stdout)  # nothing but JSON on stdout
    assert status["id"] == run_id and status["status"] == "succeeded"


@pytest.mark.training
def test_the_vae_encoders_saved_model_names_its_outputs(tmp_path):
    import numpy as np
    import tensorflow as tf

    from latentq.models.export import export_model
    from latentq.models.vae.builders import build_vae
    from latentq.recipes import vae as recipes

    vae = build_vae(recipes.VAEParams(codings=6), (8, 8), seed=0)
    x = np.random.default_rng(0).random((3, 8, 8)).astype("float32")
    mean, log_var, _ = vae.encoder(x, training=False)
    vae.save(tmp_path / "model.keras")
    export_model(tmp_path / "model.keras", tmp_path / "out", "saved_model")

    loaded = tf.saved_model.load(str(tmp_path / "out" / "encoder"))
    outputs = loaded.signatures["serving_default"].structured_outputs
    assert set(outputs) == {"z_mean", "z_log_var", "z"}
    served = loaded.serve(tf.constant(x))
    np.testing.assert_allclose(served["z_mean"].numpy(), np.asarray(mean), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(served["z_log_var"].numpy(), np.asarray(log_var), rtol=1e-5, atol=1e-6)
    assert served["z"].shape == (3, 6)
