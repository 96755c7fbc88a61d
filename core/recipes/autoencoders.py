"""Parameters of the autoencoder recipes (the Keras code is in latentq.models: autoencoders, greedy, pretraining)."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from pydantic import Field

from latentq.recipes.catalog import RecipeInfo, RecipeParams, declared, register
from latentq.recipes.fields import Optimizer, learning_rate_field, mirror_field, optimizer_field
from latentq.recipes.needs import ANY_SHAPE, IMAGES, DataNeeds, halvings


class AEParams(RecipeParams):
    """How every autoencoder recipe (and the VAEs) is optimised."""

    optimizer: Optimizer = optimizer_field("adam")
    learning_rate: float = learning_rate_field(1e-3)


class LinearAEParams(AEParams):
    codings: int = Field(2, ge=1, le=4096, description="size of the linear coding layer")
    # The notes' SGD at 0.1.
    optimizer: Optimizer = optimizer_field("sgd")
    learning_rate: float = learning_rate_field(0.1)


class StackedAEParams(AEParams):
    """Adam at 1e-3 (the notes use SGD at 1.0)."""

    hidden: int = Field(100, ge=1, le=8192, description="units of the hidden layer")
    codings: int = Field(30, ge=1, le=4096, description="units of the coding layer")
    mirror: bool = mirror_field()


LINEAR_AE = register(
    RecipeInfo(
        name="linear-ae",
        family="autoencoder",
        summary="Undercomplete linear autoencoder: PCA by gradient descent",
        params=LinearAEParams,
        default_dataset="synthetic-3d",
        can=frozenset({"reconstruct"}),
        needs=replace(ANY_SHAPE, below_features="codings"),  # undercomplete: fewer codings than inputs
    )
)
STACKED_AE = register(
    RecipeInfo(
        name="stacked-ae",
        family="autoencoder",
        summary="Stacked autoencoder: Dense selu encoder, mirrored decoder, sigmoid output, BCE",
        params=StackedAEParams,
        can=frozenset({"reconstruct"}),
    )
)


class TiedAEParams(StackedAEParams):
    """Same knobs as stacked-ae; the decoder reuses the encoder's kernels transposed."""


class GreedyAEParams(AEParams):
    hidden: int = Field(100, ge=1, le=8192, description="units of the first (outermost) coding layer")
    codings: int = Field(30, ge=1, le=4096, description="units of the innermost coding layer")
    phases: int = Field(
        2, ge=2, le=8,
        description="shallow AEs trained one at a time (layer sizes go geometrically from hidden to codings); "
                    "each phase trains --epochs epochs",
    )


class ConvAEParams(AEParams):
    filters: int = Field(16, ge=1, le=1024, description="filters of the first convolution (doubled at each stage)")
    stages: int = Field(3, ge=1, le=6, description="Conv2D + MaxPool stages (each halves height and width)")


class RecurrentAEParams(AEParams):
    hidden: int = Field(100, ge=1, le=4096, description="units of the LSTM layers next to the inputs/outputs")
    codings: int = Field(30, ge=1, le=4096, description="units of the encoder's last LSTM (the codings)")


class DenoisingAEParams(StackedAEParams):
    noise: Literal["gaussian", "dropout"] = Field(
        "gaussian", description="noise on the encoder's inputs, in training only: GaussianNoise or Dropout"
    )
    noise_std: float = Field(0.2, ge=0, le=10, description="standard deviation of the gaussian noise")
    dropout: float = Field(0.5, ge=0, lt=1, description="rate of the input dropout (noise=dropout)")


class _SparseAECommon(AEParams):
    hidden: int = Field(100, ge=1, le=8192, description="units of the hidden selu layer")
    codings: int = Field(300, ge=1, le=8192, description="units of the wide sigmoid coding layer")


class SparseAEParams(_SparseAECommon):
    l1: float = Field(1e-3, ge=0, le=100, description="L1 activity regularization of the codings (0 = none)")


class SparseKLAEParams(_SparseAECommon):
    sparsity_target: float = Field(0.1, gt=0, lt=1, description="target mean activation of each coding unit")
    sparsity_weight: float = Field(0.05, ge=0, le=1000, description="weight of the KL-divergence sparsity loss")


class PretrainClassifierParams(StackedAEParams):
    labels: int = Field(100, ge=2, le=1_000_000,
                        description="labelled training images for the classifiers (balanced across classes)")
    classifier_epochs: int = Field(100, ge=1, le=10_000, description="epochs of each classifier's training")
    classifier_learning_rate: float = learning_rate_field(1e-3, of="the classifiers")
    freeze: bool = Field(False, description="keep the pretrained encoder frozen (default: fine-tune it with the head)")


_AE_RECIPES = (
    ("tied-ae", "Stacked AE with tied weights: DenseTranspose decoder reuses the encoder kernels", TiedAEParams),
    ("greedy-ae", "Greedy layer-wise training: one shallow AE per phase, then stacked", GreedyAEParams),
    ("conv-ae", "Convolutional AE: Conv2D + MaxPool encoder, Conv2DTranspose decoder, any image size",
     ConvAEParams),
    ("recurrent-ae", "Recurrent AE: LSTM encoder, RepeatVector + LSTM decoder; images read as rows",
     RecurrentAEParams),
    ("denoising-ae", "Denoising stacked AE: gaussian or dropout noise on the inputs in training",
     DenoisingAEParams),
    ("sparse-ae", "Sparse AE: L1 activity regularization on a wide sigmoid coding layer", SparseAEParams),
    ("sparse-kl-ae", "Sparse AE: KL-divergence sparsity loss toward a target activation", SparseKLAEParams),
    ("pretrain-classifier", "Unsupervised pretraining: AE on all images, classifier on few labels vs scratch",
     PretrainClassifierParams),
)
_AE_NEEDS = {  # the others need images in [0, 1]
    "conv-ae": DataNeeds(side=halvings("stages", "each Conv2D + MaxPool stage halves the image")),
    "recurrent-ae": DataNeeds(images=False),  # (steps,), (steps, features) or images read as rows
    "pretrain-classifier": DataNeeds(labels=True, min_train=lambda p: p.labels),
}
for _name, _summary, _params in _AE_RECIPES:
    register(RecipeInfo(name=_name, family="autoencoder", summary=_summary, params=_params,
                        can=frozenset({"reconstruct"}), needs=_AE_NEEDS.get(_name, IMAGES)))
TIED_AE, GREEDY_AE, CONV_AE, RECURRENT_AE, DENOISING_AE, SPARSE_AE, SPARSE_KL_AE, PRETRAIN_CLASSIFIER = (
    declared(name) for name, _, _ in _AE_RECIPES)
