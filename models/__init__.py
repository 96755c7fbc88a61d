"""The Keras 3 model zoo. Importing this package registers every custom layer, regularizer
and model class, so `keras.models.load_model` can read any latentq `model.keras`."""

import os


def _import_tensorflow_quietly() -> None:
    """TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) ignores TF_CPP_MIN_LOG_LEVEL:
    silence stderr for the import alone. LATENTQ_TF_LOG=verbose shows it, and TensorFlow's
    later C++ lines below fatal (latentq.settings.tf_log_env)."""
    from latentq.settings import tf_log_env, tf_log_verbose

    os.environ.update(tf_log_env())  # `latentq run`: this process trains (a worker's child has it already)
    if tf_log_verbose() or os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
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
import latentq.models.layers.tied  # noqa: E402,F401
import latentq.models.layers.gan  # noqa: E402,F401
import latentq.models.layers.progressive  # noqa: E402,F401
import latentq.models.layers.style  # noqa: E402,F401
import latentq.models.autoencoders.recipes  # noqa: E402,F401
import latentq.models.autoencoders.greedy  # noqa: E402,F401
import latentq.models.autoencoders.pretraining  # noqa: E402,F401
import latentq.models.vae.recipes  # noqa: E402,F401
import latentq.models.gan.recipes  # noqa: E402,F401
import latentq.models.gan.progressive.recipes  # noqa: E402,F401
import latentq.models.gan.stylegan.recipes  # noqa: E402,F401
