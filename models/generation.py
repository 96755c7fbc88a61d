"""Generation jobs: samples, semantic interpolation and reconstructions from a trained run.

A generation job is a run of kind `generate` whose `parent` is a succeeded training run. It
loads the parent's `runs/<parent>/model.keras` and writes its own pictures and numbers under
its own `runs/<id>/`. What it may do depends on the parent recipe's `RecipeInfo.can`
("sample", "interpolate", "reconstruct"); the CLI checks that before queueing and `run`
checks it again here (`latentq.spec.check_generate_parent`).

The contract a trained model meets to be sampled from (VAEs now, every GAN recipe later):

- The saved model is, or holds, a sub-model *named* `"generator"` (GANs) or `"decoder"` (VAEs)
  that maps codings of shape (n, codings), float32 drawn from N(0, I), to n images of the
  dataset's sample shape ((H, W) or (H, W, 1) for grey, (H, W, C) for colour) with values in
  [0, 1]. A generator that ends in tanh should end with `keras.layers.Rescaling(0.5, offset=0.5)`
  (pictures and quality scores clip to [0, 1]; nothing here rescales).
- The coding size is the generator's (decoder's) input size.
- `--interpolate` also needs a sub-model named `"encoder"` whose first output is the mean
  coding (a VAE encoder's outputs are [mean, log_var, codings]); `--reconstruct` needs an
  encoder and a decoder, or a model that maps images to images (autoencoders).

What a job writes (artifact kinds in brackets):

- sampling (when the recipe can sample; always, so every job records the quality numbers):
  `images/samples.png` [samples], a grid of `--n` samples; and `fcd`, `class_coverage`,
  `class_kl`, `mean_confidence`, `classifier_accuracy` (latentq.models.evaluation.quality) on the parent's
  `eval_samples` samples (1000 when the parent has none or set 0), the grid's among them;
- `--interpolate`: `images/interpolation_source.png` (3x4 random codings),
  `images/interpolation_grid.png` (those codings resized to 5x7, bilinear, as in the notes) and
  `images/interpolation_line.png` (two held-out images, encoded, and 9 codings on the straight
  line between them, decoded) [interpolation];
- StyleGAN parents: `--truncation PSI` samples from w_avg + PSI (w - w_avg) (the model's tracked
  average w; 0 = the average image); `--interpolate` draws `images/interpolation_w.png`
  [interpolation], 5 straight lines in w space; `--style-mix [--crossover L]` draws
  `images/style_mixing.png` [style_mixing] (models.stylegan.style_mixing_grid);
- `--fid`: an Inception-v3 FID of the scored samples against the held-out images, or one event
  line where its weights cannot be had (latentq.models.evaluation.fid);
- a GAN that kept a generator EMA is sampled with the averaged weights;
- `--reconstruct`: `images/reconstructions.png` [reconstructions], rows of held-out images
  over their reconstructions, and `val_mse` over the whole held-out split; a parent that cannot
  sample has its quality numbers computed on reconstructions instead.

Held-out images are the parent's own validation split (its dataset and seed). Every random
choice comes from `numpy.random.default_rng(seed)` of this job, so the same `--seed` gives the
same pictures, pixel for pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import keras
import numpy as np

from latentq import datasets
from latentq.errors import UserError
from latentq.models.predict import batched
from latentq.recipes import get_recipe
from latentq.spec import GenerateOptions, JobSpec, generate_requests

DEFAULT_EVAL_SAMPLES = 1000
SOURCE_GRID, TARGET_GRID = (3, 4), (5, 7)  # the notes' semantic interpolation
LINE_STEPS = 9
W_LINES = 5  # StyleGAN's --interpolate: lines in w space
RECONSTRUCTION_COLS = 10

Images = Callable[[np.ndarray], np.ndarray]


def _sub_model(model: keras.Model, name: str) -> Optional[keras.Model]:
    if model.name == name:
        return model
    try:
        return model.get_layer(name)
    except ValueError:
        return None


def _batched(fn: Callable) -> Images:
    """fn applied batch by batch to a numpy array, as float32 numpy (pictures and quality scores
    clip images to [0, 1]; val_mse sees the raw outputs)."""
    return lambda x: batched(fn, x).astype(np.float32)


@dataclass
class Source:
    """What a loaded model can do, as plain numpy functions."""

    codings: Optional[int] = None
    decode: Optional[Images] = None  # codings -> images
    encode: Optional[Images] = None  # images -> mean codings
    reconstruct: Optional[Images] = None  # images -> images


def _styles(model: keras.Model) -> Optional[tuple[keras.Model, keras.Model]]:
    """(mapping, synthesis) of a StyleGAN's generator, else None."""
    generator = _sub_model(model, "generator")
    if generator is None:
        return None
    mapping, synthesis = _sub_model(generator, "mapping"), _sub_model(generator, "synthesis")
    return None if mapping is None or synthesis is None else (mapping, synthesis)


def _w_average(model: keras.Model) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(model.w_average.w_avg), np.float32)


def source_for(model: keras.Model, truncation: Optional[float] = None) -> Source:
    """Adapt a trained model by its sub-models: generator (GANs), encoder + decoder (VAEs, AEs);
    `truncation`: StyleGAN's psi (codings -> w, truncated towards the tracked average w)."""
    from latentq.models.gan.stylegan.sampling import truncated_styles

    source = Source()
    maker = _sub_model(model, "generator")
    if maker is None:
        maker = _sub_model(model, "decoder")
    encoder = _sub_model(model, "encoder")
    if maker is not None:
        source.codings = int(maker.input_shape[-1])
        source.decode = _batched(lambda z: maker(z, training=False))
    styles = _styles(model)
    if truncation is not None and styles is not None:
        mapping, synthesis = styles
        w_avg = _w_average(model)
        count = len(synthesis.inputs)
        source.decode = _batched(lambda z: synthesis(
            truncated_styles(mapping(z, training=False), w_avg, truncation, count), training=False))
    if encoder is not None:
        def mean_coding(x):
            out = encoder(x, training=False)
            return out[0] if isinstance(out, (list, tuple)) else out

        source.encode = _batched(mean_coding)
    if source.encode is not None and source.decode is not None:
        source.reconstruct = lambda x: source.decode(source.encode(x))
    elif maker is None:
        source.reconstruct = _batched(lambda x: model(x, training=False))
    return source


def _grid_cols(n: int) -> int:
    return max(1, math.ceil(math.sqrt(n)))


def _held_out(parent: JobSpec) -> datasets.Source:
    """The parent's dataset split as it trained; only its bounded validation sample is read."""
    return datasets.open_source(parent.dataset, parent.seed)


def _samples(ctx, source: Source, options: GenerateOptions, eval_count: int, rng: np.random.Generator) -> np.ndarray:
    total = max(options.n, eval_count)
    codings = rng.standard_normal((total, source.codings)).astype(np.float32)
    images = source.decode(codings)
    ctx.save_grid("samples", "images/samples.png", images[:options.n], _grid_cols(options.n))
    return images[:eval_count]


def _interpolate(ctx, source: Source, parent: JobSpec, rng: np.random.Generator) -> None:
    rows, cols = SOURCE_GRID
    codings = rng.standard_normal((rows * cols, source.codings)).astype(np.float32)
    grid = keras.ops.reshape(keras.ops.convert_to_tensor(codings), (1, rows, cols, source.codings))
    larger = keras.ops.image.resize(grid, TARGET_GRID, interpolation="bilinear", data_format="channels_last")
    larger = keras.ops.convert_to_numpy(keras.ops.reshape(larger, (-1, source.codings))).astype(np.float32)
    ctx.save_grid("interpolation", "images/interpolation_source.png", source.decode(codings), cols)
    ctx.save_grid("interpolation", "images/interpolation_grid.png", source.decode(larger), TARGET_GRID[1])

    val = _held_out(parent)
    first = int(rng.integers(len(val.x_val)))
    others = np.arange(len(val.x_val)) != first
    if val.y_val is not None and np.any(val.y_val != val.y_val[first]):
        others &= val.y_val != val.y_val[first]  # two different classes make the clearest line
    second = int(rng.choice(np.flatnonzero(others)))
    ends = source.encode(val.x_val[[first, second]])
    steps = np.linspace(0.0, 1.0, LINE_STEPS, dtype=np.float32)[:, None]
    line = source.decode(((1 - steps) * ends[0] + steps * ends[1]).astype(np.float32))
    row = np.concatenate([val.x_val[[first]], line.reshape((LINE_STEPS, *val.sample_shape)), val.x_val[[second]]])
    ctx.save_grid("interpolation", "images/interpolation_line.png", row, len(row))


def _reconstruct(ctx, source: Source, parent: JobSpec, options: GenerateOptions,
                 rng: np.random.Generator) -> np.ndarray:
    data = _held_out(parent)
    val = data.x_val
    recon = source.reconstruct(val).reshape(val.shape)
    ctx.record(0, val_mse=float(np.mean((recon - val) ** 2)))
    if not data.is_image:
        ctx.event("info", f"dataset {data.name!r} holds vectors, not images: no reconstructions picture")
        return recon
    n = min(options.n, len(val))
    chosen = rng.choice(len(val), n, replace=False)
    cols = min(n, RECONSTRUCTION_COLS)
    pairs = []
    for start in range(0, n, cols):
        idx = chosen[start:start + cols]
        blank = np.ones((cols - len(idx), *val.shape[1:]), dtype=np.float32)
        pairs += [np.concatenate([val[idx], blank]), np.concatenate([recon[idx], blank])]
    ctx.save_rows("reconstructions", "images/reconstructions.png", pairs)
    return recon


def _interpolate_w(ctx, model: keras.Model, source: Source, rng: np.random.Generator) -> None:
    """StyleGAN: rows of images on straight lines in w space between two random codings' w."""
    from latentq.models.gan.stylegan.sampling import interpolate_w

    mapping, synthesis = _styles(model)
    rows = []
    for _ in range(W_LINES):
        z0, z1 = rng.standard_normal((2, source.codings)).astype(np.float32)
        w = interpolate_w(mapping, z0, z1, LINE_STEPS)
        rows.append(np.clip(keras.ops.convert_to_numpy(synthesis([w] * len(synthesis.inputs), training=False)),
                            0.0, 1.0))
    ctx.save_grid("interpolation", "images/interpolation_w.png", np.concatenate(rows), LINE_STEPS)


def _style_mix(ctx, model: keras.Model, source: Source, options: GenerateOptions, rng: np.random.Generator) -> None:
    """StyleGAN: rows = sources A, columns = sources B; each cell B's coarse styles with A's fine ones."""
    from latentq.models.gan.stylegan.sampling import MIXING_COLS, MIXING_ROWS, style_mixing_grid

    count = len(_styles(model)[1].inputs)
    if options.crossover is not None and not 1 <= options.crossover < count:
        raise UserError(f"--crossover {options.crossover}: this generator has {count} style layers; allowed: "
                        f"1 to {count - 1}")
    a = rng.standard_normal((MIXING_ROWS, source.codings)).astype(np.float32)
    b = rng.standard_normal((MIXING_COLS, source.codings)).astype(np.float32)
    ctx.save_grid("style_mixing", "images/style_mixing.png", style_mixing_grid(model, a, b, options.crossover),
                  MIXING_COLS + 1)


def _fid(ctx, parent: JobSpec, images: np.ndarray) -> None:
    from latentq.models.evaluation import fid

    fid.record_fid(ctx, _held_out(parent).x_val, images, step=0)


def run(ctx) -> None:
    """The body of a generation job (models.runner calls it for kind == "generate")."""
    from latentq.models.samples import sampling_weights

    spec = ctx.spec
    options = spec.generate or GenerateOptions()
    parent = ctx.parent_spec(options)
    info = get_recipe(parent.recipe)
    trained = ctx.parent_files()
    if not trained.exists("model.keras"):
        raise UserError(f"run {spec.parent} has no model.keras (expected {trained.location('model.keras')})")
    with trained.local_path("model.keras") as model_path:
        model = keras.models.load_model(model_path, compile=False)
    with sampling_weights(model):  # a GAN's averaged generator, when it kept one
        _generate(ctx, model, parent, info, options)


def _generate(ctx, model: keras.Model, parent: JobSpec, info, options: GenerateOptions) -> None:
    from latentq.models.evaluation import quality

    spec = ctx.spec
    params = parent.recipe_params()
    source = source_for(model, options.truncation)
    styles = _styles(model) is not None
    asked = set(generate_requests(options))
    sample = "sample" in info.can and source.decode is not None
    missing = [what for what, ok in (("sample", sample or "sample" not in asked),
                                     ("interpolate", styles or (source.encode is not None and source.decode is not None)),
                                     ("reconstruct", source.reconstruct is not None),
                                     ("style_mix", styles), ("truncation", styles)) if what in asked and not ok]
    if missing:
        raise UserError(f"the model of run {spec.parent} ({parent.recipe}) has no sub-model to {missing[0]} with "
                        "(see latentq.models.generation for the generator / decoder / encoder contract)")
    ctx.event("info", f"generating from run {spec.parent} ({parent.recipe} on {parent.dataset}): "
                      f"{', '.join(sorted(asked | ({'sample'} if sample else set())))}")
    rng = np.random.default_rng(spec.seed)
    # Every recipe that can sample declares eval_samples (tests/test_recipe_contract.py); a parent
    # that cannot is scored on the default count of reconstructions.
    eval_count = int(params.eval_samples or DEFAULT_EVAL_SAMPLES) if "sample" in info.can else DEFAULT_EVAL_SAMPLES

    scored = None
    if sample:
        with ctx.phase("sampling"):
            scored = _samples(ctx, source, options, eval_count, rng)
    ctx.raise_if_stopped()
    if "interpolate" in asked:
        with ctx.phase("interpolation"):
            if styles:
                _interpolate_w(ctx, model, source, rng)
            else:
                _interpolate(ctx, source, parent, rng)
    ctx.raise_if_stopped()
    if "style_mix" in asked:
        with ctx.phase("style mixing"):
            _style_mix(ctx, model, source, options, rng)
    ctx.raise_if_stopped()
    if "reconstruct" in asked:
        with ctx.phase("reconstruction"):
            recon = _reconstruct(ctx, source, parent, options, rng)
        if scored is None:
            scored = recon[:eval_count]
            ctx.event("info", "the recipe cannot sample: quality numbers are of reconstructions")
    ctx.raise_if_stopped()
    if scored is not None and len(scored) >= 2:
        quality.record_quality(ctx, scored, step=0, dataset=parent.dataset)
        if options.fid:
            with ctx.phase("FID"):
                _fid(ctx, parent, scored)
    ctx.progress(1)
