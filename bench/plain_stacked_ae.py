"""The notes' stacked autoencoder as a plain Keras script: the baseline latentq must match.

Same data (mnist-5k, the same 10% validation split), model, optimizer, batch size and epochs as
`latentq run stacked-ae`. Prints JSON: fit seconds and samples per second."""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from latentq import datasets  # noqa: E402  (numpy only: the same split as the job)

epochs, batch_size = int(sys.argv[1]), int(sys.argv[2])
keras.utils.set_random_seed(0)
data = datasets.load("mnist-5k", seed=0)
encoder = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                            keras.layers.Dense(100, activation="selu"), keras.layers.Dense(30, activation="selu")])
decoder = keras.Sequential([keras.layers.Dense(100, activation="selu"), keras.layers.Dense(784, activation="sigmoid"),
                            keras.layers.Reshape((28, 28))])
ae = keras.Sequential([encoder, decoder])
ae.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(1e-3),
           metrics=[keras.metrics.MeanSquaredError(name="mse")])
start = time.perf_counter()
history = ae.fit(data.x_train, data.x_train, validation_data=(data.x_val, data.x_val), epochs=epochs,
                 batch_size=batch_size, verbose=0)
seconds = time.perf_counter() - start
print(json.dumps({"train_seconds": seconds, "samples_per_second": len(data.x_train) * epochs / seconds,
                  "val_loss": history.history["val_loss"][-1]}))
