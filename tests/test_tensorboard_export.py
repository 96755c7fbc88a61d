"""A real (tiny) VAE run: its TensorBoard events read back with TensorBoard's own reader, its decoder
exported and loaded in a fresh Python with plain Keras and no latentq, and the load hint."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support import cli


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory, quality_cache):
    """One tiny VAE trained through the job function, in its own LATENTQ_HOME, shared by this module."""
    import os
    import shutil

    from latentq.db.store import Store
    from latentq.settings import load_settings

    home = tmp_path_factory.mktemp("tb") / "home"
    shutil.copytree(quality_cache, home / "cache")
    saved = os.environ.get("LATENTQ_HOME")
    os.environ["LATENTQ_HOME"] = str(home)
    try:
        settings = load_settings()
        store = Store(settings.db_url, settings.artifact_root)
        from support import run_job

        status = run_job(store, settings, "vae", dataset="digits", epochs=2, batch_size=64, codings=3,
                         hidden1=16, hidden2=8, eval_samples=100)
    finally:
        if saved is None:
            os.environ.pop("LATENTQ_HOME", None)
        else:
            os.environ["LATENTQ_HOME"] = saved
    assert status["status"] == "succeeded", status["error"]
    return home, status


def _fresh_python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3", "HOME": "/tmp"})


def test_every_run_writes_tensorboard_scalars_per_epoch_and_its_sample_grids(vae_run):
    from tensorboard.backend.event_processing import event_accumulator

    home, status = vae_run
    logdir = home / "runs" / status["id"] / "tensorboard"
    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance={event_accumulator.IMAGES: 0,
                                                                         event_accumulator.TENSORS: 0})
    acc.Reload()
    tensors = acc.Tags()["tensors"]
    assert {"loss", "val_loss", "fcd"} <= set(tensors)
    import tensorflow as tf

    loss = [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors("loss")]
    stored = {m.step: m.value for m in __import__("latentq.db.store", fromlist=["Store"]).Store(
        f"sqlite:///{home / 'latentq.db'}", home / "runs").metrics(status["id"]) if m.name == "loss"}
    assert [s for s, _ in loss] == [1, 2] and all(v == pytest.approx(stored[s], rel=1e-5) for s, v in loss)
    assert "samples_epoch" in tensors  # TF2 summaries keep images as tensors (PNG strings)
    frames = acc.Tensors("samples_epoch")
    assert [e.step for e in frames] == [1, 2]
    width, height, png = tf.make_ndarray(frames[-1].tensor_proto)[:3]
    assert int(width) > 0 and int(height) > 0 and png[:8] == b"\x89PNG\r\n\x1a\n"


def test_plain_keras_cannot_load_the_run_model_and_show_says_what_to_do(vae_run):
    home, status = vae_run
    model = home / "runs" / status["id"] / "model.keras"
    plain = _fresh_python("import sys, keras; keras.models.load_model(sys.argv[1])", str(model))
    assert plain.returncode != 0 and "Could not locate class" in plain.stderr
    shown = cli("show", status["id"][:6], env={"LATENTQ_HOME": str(home)})
    assert "import latentq.models" in shown.stdout and f"latentq export {status['id']}" in shown.stdout


LOAD_KERAS = """
import sys, numpy as np, keras
model = keras.models.load_model(sys.argv[1])
out = model(np.zeros((2, int(sys.argv[2])), dtype="float32"))
assert not [m for m in sys.modules if m.startswith("latentq")]
print(tuple(out.shape))
"""

LOAD_SAVED_MODEL = """
import sys, numpy as np, tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
out = model.serve(tf.zeros((2, 8, 8)))
out = out["z_mean"] if isinstance(out, dict) else out  # the VAE encoder names its outputs
assert not [m for m in sys.modules if m.startswith("latentq")]
print(tuple(out.shape))
"""


def test_export_writes_a_decoder_that_loads_without_latentq(vae_run, tmp_path):
    home, status = vae_run
    result = cli("export", status["id"][:6], "-o", str(tmp_path / "out"), "--json", env={"LATENTQ_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    parts = {p["part"]: p for p in json.loads(result.stdout)}
    assert set(parts) == {"decoder", "encoder"}
    assert parts["decoder"]["standalone"] is True
    assert parts["encoder"]["standalone"] is False and any("Sampling" in n for n in parts["encoder"]["needs"])
    loaded = _fresh_python(LOAD_KERAS, parts["decoder"]["path"], "3")
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip().splitlines()[-1] in ("(2, 8, 8)", "(2, 8, 8, 1)")


def test_export_saved_model_loads_every_part_without_latentq(vae_run, tmp_path):
    home, status = vae_run
    result = cli("export", status["id"], "--format", "saved_model", "-o", str(tmp_path / "sm"), "--json",
                 env={"LATENTQ_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    parts = {p["part"]: p for p in json.loads(result.stdout)}
    assert all(p["standalone"] for p in parts.values())
    loaded = _fresh_python(LOAD_SAVED_MODEL, parts["encoder"]["path"])
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip().splitlines()[-1] == "(2, 3)"


def test_generate_local_prints_where_its_images_are(vae_run):
    home, status = vae_run
    result = cli("generate", status["id"][:6], "--n", "4", "--local", env={"LATENTQ_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    line = next(l for l in result.stdout.splitlines() if l.strip().startswith("samples:"))
    from pathlib import Path

    assert Path(line.split(":", 1)[1].strip()).is_file()
