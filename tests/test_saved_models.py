"""Models saved by an earlier layout of latentq.models still load, and compute what they did:
classes are found by their registered `latentq>Name`, not by the module that held them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
import latentq.models  # noqa: E402,F401  (registers latentq's classes)

SAVED = Path(__file__).parent / "fixtures" / "saved_before_move"
OUTPUTS = np.load(SAVED / "outputs.npz")


def load(name: str):
    return keras.models.load_model(SAVED / f"{name}.keras")


def test_a_tied_autoencoder_reconstructs_as_before():
    model = load("tied-ae")
    assert type(model).__name__ == "TiedAutoencoder"
    np.testing.assert_allclose(np.asarray(model(OUTPUTS["x"])), OUTPUTS["tied-ae"], rtol=1e-6, atol=1e-6)


def test_a_vae_decodes_as_before():
    model = load("vae")
    assert type(model).__name__ == "VAE"
    np.testing.assert_allclose(np.asarray(model.decoder(OUTPUTS["vae_z"])), OUTPUTS["vae"], rtol=1e-6, atol=1e-6)


def test_a_gan_with_minibatch_discrimination_scores_as_before():
    model = load("gan-minibatch")
    assert type(model).__name__ == "GAN"
    np.testing.assert_allclose(np.asarray(model.discriminator(OUTPUTS["gan_x"])), OUTPUTS["gan"], rtol=1e-5, atol=1e-5)


def test_a_stylegan_loads_and_generates():
    model = load("stylegan")
    assert type(model).__name__ == "StyleGAN"
    z = np.random.default_rng(0).standard_normal((2, model.codings)).astype("float32")
    images = np.asarray(model.generator(z))
    assert images.shape[0] == 2 and np.isfinite(images).all()
