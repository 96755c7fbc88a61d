"""`--set precision=...` for every recipe: each family trains a few steps in mixed precision on
the CPU with finite losses, a saved model that loads, float32 outputs, and the policy put back."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from support import artifact_paths


def load_model(status) -> keras.Model:
    import latentq.models  # noqa: F401  (custom objects)

    (path,) = artifact_paths(status, "model")
    return keras.models.load_model(Path(path))


@pytest.mark.parametrize("recipe, precision", [
    ("stacked-ae", "mixed_float16"),
    ("stacked-ae", "mixed_bfloat16"),
    ("vae", "mixed_float16"),
])
def test_autoencoders_and_the_vae_train_in_mixed_precision(train, recipe, precision):
    status = train(recipe, dataset="digits", epochs=1, batch_size=64, precision=precision)
    assert status["status"] == "succeeded", status["error"]
    assert np.isfinite(status["metrics"]["loss"]) and np.isfinite(status["metrics"]["val_loss"])
    model = load_model(status)
    assert model.dtype_policy.name == precision
    x = np.random.default_rng(0).random((4, 8, 8), dtype=np.float32)
    outputs = model(x) if recipe != "vae" else model.decoder(np.zeros((4, model.codings), "float32"))
    assert keras.backend.standardize_dtype(outputs.dtype) == "float32"
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(outputs)))


def test_a_gan_trains_in_mixed_float16_with_loss_scaling_then_float32_again(train_digits):
    status = train_digits("gan", epochs=1, batch_size=64, precision="mixed_float16", eval_samples=100)
    assert status["status"] == "succeeded", status["error"]
    metrics = status["metrics"]
    assert np.isfinite(metrics["d_loss"]) and np.isfinite(metrics["g_loss"])
    model = load_model(status)
    assert isinstance(model.d_optimizer, keras.optimizers.LossScaleOptimizer)
    images = model.generator(np.zeros((2, model.codings), "float32"))
    p_real = model.discriminator(images)
    assert keras.backend.standardize_dtype(images.dtype) == "float32"
    assert keras.backend.standardize_dtype(p_real.dtype) == "float32"

    again = train_digits("gan", epochs=1, batch_size=64, eval_samples=100)  # the next job in this process
    assert again["status"] == "succeeded", again["error"]
    assert keras.mixed_precision.global_policy().name == "float32"
    assert not isinstance(load_model(again).d_optimizer, keras.optimizers.LossScaleOptimizer)


def test_an_unknown_precision_is_refused():
    from latentq.recipes import get_recipe

    with pytest.raises(Exception) as refused:
        get_recipe("linear-ae").params(precision="float16")
    assert "mixed_float16" in str(refused.value)
