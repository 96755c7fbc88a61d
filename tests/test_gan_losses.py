"""The adversarial losses and regularisers on hand-made scores and tiny critics."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("keras")

import keras  # noqa: E402
from keras import ops  # noqa: E402

from latentq.models.gan import losses as gan_losses  # noqa: E402
from latentq.models.gan.losses import GANLoss  # noqa: E402
from latentq.models.gan.model import loss_of  # noqa: E402
from latentq.recipes.gans import DCGANParams, ProGANParams, StyleGANParams  # noqa: E402


def value(x) -> float:
    return float(ops.convert_to_numpy(x))


def scores(*values):
    return ops.convert_to_tensor(np.array(values, np.float32)[:, None])


def linear_critic(weights: np.ndarray, bias: float = 0.0):
    """D(x) = <w, x> + b over flattened images: its input gradient is w everywhere."""
    w = ops.convert_to_tensor(weights.reshape(-1, 1).astype(np.float32))

    def critic(images):
        flat = ops.reshape(images, (ops.shape(images)[0], -1))
        return ops.matmul(flat, w) + bias
    return critic


def images(n=6, seed=0):
    return ops.convert_to_tensor(np.random.default_rng(seed).random((n, 4, 4, 1), dtype=np.float32))


@pytest.mark.parametrize("loss", gan_losses.LOSSES)
def test_each_loss_is_finite_and_rewards_the_right_side(loss):
    d_phase, g_phase = gan_losses.PHASES[loss]
    if loss == "bce":  # probabilities
        good, bad, neutral = scores(0.99, 0.98), scores(0.01, 0.02), scores(0.5, 0.5)
    else:  # logits / critic values
        good, bad, neutral = scores(5.0, 6.0), scores(-5.0, -6.0), scores(0.0, 0.0)
    confident = value(d_phase(good, bad)["d_loss"])  # the discriminator is right
    fooled = value(d_phase(bad, good)["d_loss"])  # the discriminator is wrong
    assert np.isfinite(confident) and np.isfinite(fooled)
    assert confident < value(d_phase(neutral, neutral)["d_loss"]) < fooled
    # the generator's loss falls as the discriminator takes its fakes for real
    assert value(g_phase(good)["g_loss"]) < value(g_phase(neutral)["g_loss"]) < value(g_phase(bad)["g_loss"])


def test_limits_of_the_logit_losses():
    zero = scores(0.0, 0.0)
    assert value(gan_losses.nonsaturating_d(zero, zero)["d_loss"]) == pytest.approx(2 * math.log(2), rel=1e-5)
    assert value(gan_losses.nonsaturating_g(zero)["g_loss"]) == pytest.approx(math.log(2), rel=1e-5)
    # softplus stays finite and exact where a sigmoid + log would overflow
    assert value(gan_losses.nonsaturating_g(scores(-200.0))["g_loss"]) == pytest.approx(200.0, rel=1e-5)
    assert value(gan_losses.nonsaturating_d(scores(200.0), scores(-200.0))["d_loss"]) == pytest.approx(0.0, abs=1e-6)
    # hinge: no loss once both sides are beyond the margin
    assert value(gan_losses.hinge_d(scores(1.5), scores(-2.0))["d_loss"]) == 0.0
    assert value(gan_losses.hinge_d(scores(0.0), scores(0.0))["d_loss"]) == pytest.approx(2.0)
    stats = gan_losses.wgan_d(scores(3.0, 1.0), scores(-1.0, 0.0))
    assert value(stats["wasserstein"]) == pytest.approx(2.5) and value(stats["d_loss"]) == pytest.approx(-2.5)
    # bce matches the nonsaturating loss on the logits of the same probabilities (halved: mean of halves)
    logits = np.array([1.5, -0.5], np.float32)
    probs = 1 / (1 + np.exp(-logits))
    bce = value(gan_losses.bce_d(scores(*probs), scores(*probs[::-1]))["d_loss"])
    ns = value(gan_losses.nonsaturating_d(scores(*logits), scores(*logits[::-1]))["d_loss"])
    assert bce == pytest.approx(0.5 * ns, rel=1e-4)


def test_gradient_penalty_vanishes_for_a_unit_norm_linear_critic_only():
    w = np.random.default_rng(1).standard_normal(16)
    real, fake = images(seed=1), images(seed=2)
    unit = value(gan_losses.gradient_penalty(linear_critic(w / np.linalg.norm(w)), real, fake, seed=3))
    steep = value(gan_losses.gradient_penalty(linear_critic(3 * w / np.linalg.norm(w)), real, fake, seed=3))
    assert unit == pytest.approx(0.0, abs=1e-5)
    assert steep == pytest.approx(4.0, rel=1e-4)  # (3 - 1)^2
    flat = value(gan_losses.gradient_penalty(linear_critic(np.zeros(16)), real, fake, seed=3))
    assert flat == pytest.approx(1.0, rel=1e-4)  # (0 - 1)^2


def test_r1_is_zero_for_a_constant_critic_and_the_squared_gradient_norm_otherwise():
    real = images()
    r1, _ = gan_losses.r1_penalty(lambda x: ops.sum(x, axis=(1, 2, 3))[:, None] * 0.0 + 0.7, real)
    assert value(r1) == 0.0
    w = np.full(16, 0.5)
    r1, real_scores = gan_losses.r1_penalty(linear_critic(w), real)
    assert value(r1) == pytest.approx(16 * 0.25)
    assert tuple(real_scores.shape) == (6, 1)
    assert value(gan_losses.drift_penalty(scores(2.0, -2.0))) == pytest.approx(4.0)


def test_ganloss_adds_the_weighted_terms_and_names_them():
    real, fake = images(seed=4), images(seed=5)
    critic = linear_critic(np.full(16, 0.5), bias=0.25)
    plain = GANLoss("wgan-gp", gp_lambda=0.0).discriminator(critic, real, fake)
    full = GANLoss("wgan-gp", gp_lambda=10.0, r1_gamma=2.0, drift=0.001).discriminator(
        critic, real, fake, seed=keras.random.SeedGenerator(0))
    assert {"d_loss", "adversarial_d_loss", "gp", "r1", "drift", "wasserstein", "real_score", "fake_score"} <= set(full)
    assert "gp" not in plain and "r1" not in plain
    expected = (value(full["adversarial_d_loss"]) + 10.0 * value(full["gp"]) + 0.5 * 2.0 * value(full["r1"])
                + 0.001 * value(full["drift"]))
    assert value(full["d_loss"]) == pytest.approx(expected, rel=1e-5)
    assert value(full["r1"]) == pytest.approx(4.0)
    assert value(full["gp"]) == pytest.approx(1.0, rel=1e-4)  # ||w|| = 2: (2 - 1)^2
    g = GANLoss("hinge").generator(critic, fake)
    assert value(g["g_loss"]) == pytest.approx(-value(g["fake_score"]))


def test_lazy_r1_applies_every_kth_step_scaled_by_k_inside_a_compiled_tape():
    import tensorflow as tf

    real, fake = images(seed=6), images(seed=7)
    dense = keras.layers.Dense(1, kernel_initializer="ones")
    dense.build((None, 16))
    loss = GANLoss("nonsaturating", r1_gamma=1.0, r1_every=4)

    @tf.function
    def step(i):
        with tf.GradientTape() as tape:
            stats = loss.discriminator(lambda x: dense(ops.reshape(x, (-1, 16))), real, fake, step=i)
        grads = tape.gradient(stats["d_loss"], dense.trainable_weights)
        return stats, grads

    due, due_grads = step(tf.constant(8, tf.int64))
    skipped, skipped_grads = step(tf.constant(9, tf.int64))
    assert value(due["r1"]) == pytest.approx(16.0)  # ||w||^2 with w = ones(16)
    assert value(skipped["r1"]) == 0.0
    assert value(due["d_loss"]) == pytest.approx(value(due["adversarial_d_loss"]) + 0.5 * 4 * 16.0, rel=1e-5)
    assert value(skipped["d_loss"]) == pytest.approx(value(skipped["adversarial_d_loss"]))
    # R1 reaches the weights: its gradient 0.5 * gamma * k * d||w||^2/dw = 2 * 2w = 4 per weight on top
    diff = ops.convert_to_numpy(due_grads[0]) - ops.convert_to_numpy(skipped_grads[0])
    assert np.allclose(diff, 4.0, atol=1e-4)


def test_bad_settings_are_refused_with_what_was_received():
    with pytest.raises(ValueError, match="Received: loss='lsgan'"):
        GANLoss("lsgan")
    with pytest.raises(ValueError, match="Received: r1_every=0"):
        GANLoss(r1_every=0)
    with pytest.raises(ValueError, match="Received: drift=-1"):
        GANLoss(drift=-1)
    with pytest.raises(ValueError, match="needs the step counter"):
        GANLoss(r1_gamma=1.0, r1_every=2).discriminator(linear_critic(np.ones(16)), images(), images())
    assert GANLoss().on_probabilities and not GANLoss("hinge").on_probabilities
    assert loss_of(ProGANParams()).loss == "nonsaturating" and loss_of(StyleGANParams()).r1_every == 4
    assert loss_of(DCGANParams()) == GANLoss()  # the notes' BCE, no regulariser
