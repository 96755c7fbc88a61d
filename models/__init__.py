"""The Keras 3 model zoo. Importing this package registers every custom layer, regularizer
and model class, so `keras.models.load_model` can read any latentq `model.keras`."""

import os


def _import_tensorflow_quietly() -> None:
    """TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) ignores TF_CPP_MIN_LOG_LEVEL:
    silence stderr for the import alone. LATENTQ_TF_LOGS=1 shows it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get("LATENTQ_TF_LOGS") or os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # the CUDA probe logs here, once
    except ImportError:
        pass
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()

# Registers every custom Keras class (`latentq>Name`) and attaches every recipe's trainer.
from latentq.models import layers, gan_layers, style_layers  # noqa: E402,F401
from latentq.models import autoencoders, greedy, pretraining  # noqa: E402,F401
from latentq.models import vae, vae_recipes  # noqa: E402,F401
from latentq.models import gan, gan_recipes, progan, stylegan  # noqa: E402,F401
