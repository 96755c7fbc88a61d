"""Adversarial losses and discriminator regularisers, one object per choice (`--set loss=...`).

The discriminator's raw output is called its *score*: a probability for `bce` (latentq's
sigmoid heads, the current behaviour), a logit / critic value for the others. Each loss has one
method per phase, as stylegan2-ada's `training/loss.py`, returning named statistics whose
"d_loss" / "g_loss" entry is the scalar to differentiate:

- `bce`: binary cross-entropy on probabilities, mean of the real and fake halves; the
  generator's loss is BCE(1, D(G(z))) (the notes' loop; keras clips probabilities at 1e-7).
- `nonsaturating`: the same game on logits in the stable softplus form (Goodfellow et al.'s
  non-saturating loss as StyleGAN uses it): d = softplus(-D(x)) + softplus(D(G(z))),
  g = softplus(-D(G(z))).
- `wgan`: the Wasserstein critic d = D(G(z)) - D(x), g = -D(G(z)); with `gp_lambda` > 0 it is
  WGAN-GP (Gulrajani et al. 2017: lambda * (||grad D(x_hat)|| - 1)^2 on random interpolates).
- `hinge`: d = relu(1 - D(x)) + relu(1 + D(G(z))), g = -D(G(z)) (SAGAN / BigGAN).

Regularisers, added by `GANLoss` to the discriminator's loss:
- R1 (Mescheder et al. 2018): r1_gamma / 2 * E ||grad_x D(x)||^2 on reals; lazy every
  `r1_every` steps with the term scaled by r1_every, as in StyleGAN2 (the optimizer's beta
  adjustment of the paper is left to the caller).
- drift (ProGAN): epsilon_drift * E D(x)^2, keeping WGAN critic scores near 0.

The gradient penalties open a gradient tape: the TensorFlow-tied part, called from a
`train_step` (inside the caller's own tape, which differentiates through them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
from keras import ops

LOSSES = ("bce", "nonsaturating", "wgan-gp", "hinge")

Critic = Callable  # images -> scores, e.g. lambda x: gan.discriminate(x, training=True)


def _mean(x):
    return ops.mean(ops.cast(x, "float32"))


# ---- the four losses: (real scores, fake scores) -> named statistics --------------------------


def bce_d(p_real, p_fake) -> dict:
    bce = keras.losses.BinaryCrossentropy()
    real, fake = bce(ops.ones_like(p_real), p_real), bce(ops.zeros_like(p_fake), p_fake)
    return {"d_loss": 0.5 * (real + fake), "d_real_loss": real, "d_fake_loss": fake}


def bce_g(p_fake) -> dict:
    return {"g_loss": keras.losses.BinaryCrossentropy()(ops.ones_like(p_fake), p_fake)}


def nonsaturating_d(real, fake) -> dict:
    real_loss, fake_loss = _mean(ops.softplus(-real)), _mean(ops.softplus(fake))
    return {"d_loss": real_loss + fake_loss, "d_real_loss": real_loss, "d_fake_loss": fake_loss}


def nonsaturating_g(fake) -> dict:
    return {"g_loss": _mean(ops.softplus(-fake))}


def wgan_d(real, fake) -> dict:
    real_mean, fake_mean = _mean(real), _mean(fake)
    # d_loss is the negative of the critic's Wasserstein estimate; the estimate itself is logged
    return {"d_loss": fake_mean - real_mean, "wasserstein": real_mean - fake_mean}


def wgan_g(fake) -> dict:
    return {"g_loss": -_mean(fake)}


def hinge_d(real, fake) -> dict:
    real_loss, fake_loss = _mean(ops.relu(1.0 - real)), _mean(ops.relu(1.0 + fake))
    return {"d_loss": real_loss + fake_loss, "d_real_loss": real_loss, "d_fake_loss": fake_loss}


def hinge_g(fake) -> dict:
    return {"g_loss": -_mean(fake)}


PHASES = {
    "bce": (bce_d, bce_g),
    "nonsaturating": (nonsaturating_d, nonsaturating_g),
    "wgan-gp": (wgan_d, wgan_g),
    "hinge": (hinge_d, hinge_g),
}


# ---- regularisers -----------------------------------------------------------------------------


def _input_gradients(critic: Critic, images):
    """(scores, d sum(scores) / d images) with a tape of its own; an outer tape sees through it."""
    import tensorflow as tf

    images = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(images)
        scores = critic(images)
        total = tf.reduce_sum(tf.cast(scores, tf.float32))
    return scores, tape.gradient(total, images, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def _squared_norms(gradients):
    """Per-sample squared L2 norm of gradients of any rank >= 2."""
    flat = ops.reshape(ops.cast(gradients, "float32"), (ops.shape(gradients)[0], -1))
    return ops.sum(ops.square(flat), axis=1)


def gradient_penalty(critic: Critic, real, fake, seed=None):
    """WGAN-GP: E (||grad D(x_hat)|| - 1)^2, x_hat uniformly between a real and a fake image."""
    shape = [ops.shape(real)[0]] + [1] * (len(real.shape) - 1)
    eps = keras.random.uniform(shape, dtype=real.dtype, seed=seed)
    between = real + eps * (ops.cast(fake, real.dtype) - real)
    _, gradients = _input_gradients(critic, between)
    return ops.mean(ops.square(ops.sqrt(_squared_norms(gradients) + 1e-12) - 1.0))


def r1_penalty(critic: Critic, real):
    """(E ||grad_x D(x)||^2 on reals, the real scores): to be scaled by r1_gamma / 2."""
    scores, gradients = _input_gradients(critic, real)
    return ops.mean(_squared_norms(gradients)), scores


def drift_penalty(real_scores):
    """ProGAN's E D(x)^2, to be scaled by epsilon_drift."""
    return _mean(ops.square(real_scores))


# ---- one object per run ----------------------------------------------------------------------


@dataclass(frozen=True)
class GANLoss:
    """The loss and regularisers of a run; `discriminator` / `generator` return named statistics.

    gp_lambda: the WGAN-GP weight (used by loss="wgan-gp"; 10 in the paper).
    r1_gamma: R1 weight (0 = off); r1_every: apply R1 on every k-th discriminator step only,
    scaled by k (lazy regularisation). drift: ProGAN's epsilon_drift (0.001 in the paper).
    """

    loss: str = "bce"
    gp_lambda: float = 10.0
    r1_gamma: float = 0.0
    r1_every: int = 1
    drift: float = 0.0

    def __post_init__(self):
        if self.loss not in PHASES:
            raise ValueError(f"`loss` must be one of {', '.join(LOSSES)}. Received: loss={self.loss!r}")
        for name in ("gp_lambda", "r1_gamma", "drift"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"`{name}` must be a number >= 0. Received: {name}={value!r}")
        if isinstance(self.r1_every, bool) or not isinstance(self.r1_every, int) or self.r1_every < 1:
            raise ValueError(f"`r1_every` must be an integer >= 1. Received: r1_every={self.r1_every!r}")

    @property
    def on_probabilities(self) -> bool:
        """True for bce: the discriminator must end in a sigmoid; the others want its logits."""
        return self.loss == "bce"

    def discriminator(self, critic: Critic, real, fake, step=None, seed=None) -> dict:
        """Statistics of phase 1 ("d_loss" the total to minimise, plus each term and the scores).

        critic: images -> scores with the training flag set. step: the discriminator step
        counter (a tensor is fine), needed only for lazy R1. seed: a keras SeedGenerator for
        the WGAN-GP interpolates."""
        need_real_gradients = self.r1_gamma > 0 and self.r1_every == 1
        if need_real_gradients:
            r1, real_scores = r1_penalty(critic, real)
        else:
            real_scores = critic(real)
        fake_scores = critic(fake)
        stats = dict(PHASES[self.loss][0](real_scores, fake_scores))
        stats["real_score"], stats["fake_score"] = _mean(real_scores), _mean(fake_scores)
        stats["real_scores"], stats["fake_scores"] = real_scores, fake_scores  # per image, for accuracies
        total = stats["d_loss"]
        if self.loss == "wgan-gp" and self.gp_lambda > 0:
            stats["gp"] = gradient_penalty(critic, real, fake, seed=seed)
            total = total + self.gp_lambda * stats["gp"]
        if self.r1_gamma > 0:
            if not need_real_gradients:
                r1 = self._lazy_r1(critic, real, step)
            stats["r1"] = r1
            total = total + 0.5 * self.r1_gamma * self.r1_every * r1
        if self.drift > 0:
            stats["drift"] = drift_penalty(real_scores)
            total = total + self.drift * stats["drift"]
        stats["adversarial_d_loss"], stats["d_loss"] = stats["d_loss"], total
        return stats

    def adversarial_loss(self, real_scores, fake_scores):
        """Phase 1's loss of given scores, without regularisers (a held-out evaluation's)."""
        return PHASES[self.loss][0](real_scores, fake_scores)["d_loss"]

    def _lazy_r1(self, critic: Critic, real, step):
        if step is None:
            raise ValueError(f"lazy R1 (r1_every={self.r1_every}) needs the step counter. Received: step=None")
        due = ops.equal(ops.mod(ops.cast(step, "int64"), self.r1_every), 0)
        return ops.cond(due, lambda: r1_penalty(critic, real)[0], lambda: ops.zeros((), "float32"))

    def without_penalties(self) -> "GANLoss":
        """The same loss with no regulariser (held-out scoring: no input gradients needed)."""
        return GANLoss(loss=self.loss, gp_lambda=0.0, r1_gamma=0.0, r1_every=self.r1_every, drift=0.0)

    def logged(self) -> tuple[str, ...]:
        """The regulariser / estimate statistics worth a curve for this loss."""
        names = []
        if self.loss == "wgan-gp":
            names += ["wasserstein"] + (["gp"] if self.gp_lambda > 0 else [])
        if self.r1_gamma > 0:
            names.append("r1")
        return tuple(names)

    def generator(self, critic: Critic, fake) -> dict:
        """Statistics of phase 2 ("g_loss" to minimise)."""
        scores = critic(fake)
        stats = dict(PHASES[self.loss][1](scores))
        stats["fake_score"] = _mean(scores)
        return stats

