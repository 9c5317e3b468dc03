"""keras_cartoon training steps as benchmark contenders (TensorFlow backend).

Each contender calls the model's own compiled train function, the one `fit`
runs per batch, on a fixed batch held in a `tf.data` iterator, so the numbers
include Keras's per-step overhead but no input pipeline. Reading the returned
losses as NumPy waits for the step to finish.
"""

import time

import numpy as np


def _import_keras():
    import keras
    import tensorflow as tf

    return keras, tf


def synthetic_images(batch_size, image_size, seed):
    """Return a fixed NHWC float32 batch in [-1, 1]."""
    rng = np.random.default_rng(seed)
    return (rng.random((batch_size, image_size, image_size, 3), dtype=np.float32) * 2.0 - 1.0).astype(np.float32)


def _count_weights(variables):
    return int(sum(np.prod(variable.shape) for variable in variables))


class _KerasContender:
    """Shared loop: repeat one batch through `model.train_function` and time each step."""

    def _prepare(self, model, batch):
        keras, tf = _import_keras()
        dataset = tf.data.Dataset.from_tensors(batch).repeat()
        self.iterator = iter(dataset)
        self.model = model
        model.make_train_function()
        self.train_function = model.train_function

    def step(self):
        logs = self.train_function(self.iterator)
        return {name: float(np.asarray(value)) for name, value in logs.items()}

    def run(self, num_steps):
        durations = []
        for _ in range(num_steps):
            start = time.perf_counter()
            self.step()
            durations.append(time.perf_counter() - start)
        return durations


class KerasVAEContender(_KerasContender):
    """`CartoonVAE` (preset `baseline`) with Adam(1e-3), optionally compiled with XLA.

    `experiments` names patches from `benchmarks.keras_experiments` to apply
    in this process before the model is built.
    """

    def __init__(self, image_size, batch_size, jit_compile=False, preset="baseline", experiments=(), seed=0):
        keras, tf = _import_keras()
        from benchmarks.keras_experiments import apply_experiments
        from keras_cartoon.models.vae import CartoonVAE

        apply_experiments(experiments)

        keras.utils.set_random_seed(seed)
        self.batch_size = batch_size
        model = CartoonVAE(image_size=image_size, preset=preset, seed=seed)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit_compile)
        self._prepare(model, tf.constant(synthetic_images(batch_size, image_size, seed)))

    def describe(self):
        return {
            "parameters": _count_weights(self.model.trainable_variables),
            "jit_compile": bool(self.model.jit_compile),
        }


class KerasCycleGANContender(_KerasContender):
    """`CycleGAN` with the ResNet generator and its default losses and optimizers."""

    def __init__(
        self, image_size, batch_size, filters=64, num_residual_blocks=None, jit_compile=False, experiments=(), seed=0
    ):
        keras, tf = _import_keras()
        from benchmarks.keras_experiments import apply_experiments
        from keras_cartoon.models.cyclegan import CycleGAN

        apply_experiments(experiments)

        keras.utils.set_random_seed(seed)
        self.batch_size = batch_size
        model = CycleGAN(
            image_size=image_size,
            generator="resnet",
            num_residual_blocks=num_residual_blocks,
            generator_filters=filters,
            discriminator_filters=filters,
            seed=seed,
        )
        model.compile(jit_compile=jit_compile)
        real_a = tf.constant(synthetic_images(batch_size, image_size, seed))
        real_b = tf.constant(synthetic_images(batch_size, image_size, seed + 1))
        self._prepare(model, (real_a, real_b))

    def describe(self):
        return {
            "generator_parameters": _count_weights(self.model.generator_a2b.trainable_variables),
            "discriminator_parameters": _count_weights(self.model.discriminator_a.trainable_variables),
            "jit_compile": bool(self.model.jit_compile),
        }
