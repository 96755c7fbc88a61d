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

from latentq.models import layers  # noqa: E402,F401  (registers custom objects)
from latentq.models import vae  # noqa: E402,F401  (registers Sampling and VAE)
from latentq.models import gan_layers, gans  # noqa: E402,F401  (registers the GAN layers and model)
from latentq.models import style_layers, progan, stylegan  # noqa: E402,F401  (ProGAN / StyleGAN layers, models)
