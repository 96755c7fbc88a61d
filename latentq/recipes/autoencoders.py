"""Parameters of the autoencoder recipes (the Keras code is in latentq.models.autoencoders)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from latentq.recipes.catalog import RecipeInfo, RecipeParams, register

Optimizer = Literal["sgd", "adam", "rmsprop", "nadam"]


class LinearAEParams(RecipeParams):
    codings: int = Field(2, ge=1, le=4096, description="size of the linear coding layer")
    optimizer: Optimizer = Field("sgd", description="optimizer")
    learning_rate: float = Field(0.1, gt=0, le=10, description="learning rate")


class StackedAEParams(RecipeParams):
    hidden: int = Field(100, ge=1, le=8192, description="units of the hidden layer")
    codings: int = Field(30, ge=1, le=4096, description="units of the coding layer")
    optimizer: Optimizer = Field("adam", description="optimizer (the notes use sgd at 1.0)")
    learning_rate: float = Field(1e-3, gt=0, le=10, description="learning rate")


register(
    RecipeInfo(
        name="linear-ae",
        family="autoencoder",
        summary="Undercomplete linear autoencoder: PCA by gradient descent",
        params=LinearAEParams,
        default_dataset="synthetic-3d",
        can=frozenset({"reconstruct"}),
    )
)
register(
    RecipeInfo(
        name="stacked-ae",
        family="autoencoder",
        summary="Stacked autoencoder: Dense selu encoder, mirrored decoder, sigmoid output, BCE",
        params=StackedAEParams,
        can=frozenset({"reconstruct"}),
    )
)
