"""Both mixed precision policies train a tiny VAE and a tiny CycleGAN on CPU: finite losses, float32 variables."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cartoon.models import CartoonVAE
from keras_cartoon.models.cyclegan import CycleGAN
from keras_cartoon.training.precision import configure_precision, wrap_optimizer
from tests.helpers import structured_images

POLICIES = ["mixed_float16", "mixed_bfloat16"]


@pytest.fixture
def policy(request):
    previous = keras.mixed_precision.global_policy()
    configure_precision(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy(previous)


def _assert_float32_variables(variables):
    float_variables = [v for v in variables if "float" in str(v.dtype)]
    assert float_variables
    for variable in float_variables:
        assert variable.dtype == "float32", variable.path


def _assert_two_steps_applied_or_skipped(optimizer):
    """Each step either updates the weights or, after a float16 overflow, halves the loss scale and skips."""
    applied = int(optimizer.iterations.numpy())
    skipped = 0
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        skipped = int(round(np.log2(2.0**15 / float(optimizer.dynamic_scale.numpy()))))
    assert applied + skipped == 2


def _assert_finite(history):
    for name, values in history.items():
        assert np.isfinite(values).all(), f"{name}={values}"


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_vae_trains_under_policy(policy):
    model = CartoonVAE(image_size=32, encoder_filters=[8] * 4, decoder_filters=[8] * 4, latent_dim=4, seed=0)
    model.compile(optimizer=wrap_optimizer(keras.optimizers.Adam(1e-3)))
    images = structured_images(4, 32)

    history = model.fit(tf.data.Dataset.from_tensor_slices(images).batch(2), epochs=1, verbose=0).history

    _assert_finite(history)
    _assert_float32_variables(model.variables)
    _assert_float32_variables(model.optimizer.variables)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    _assert_two_steps_applied_or_skipped(model.optimizer)
    assert model.encoder.get_layer("encoder_conv_1").compute_dtype == policy.removeprefix("mixed_")
    z_mean, z_log_var, z = model.encoder(images[:2], training=False)
    for tensor in (z_mean, z_log_var, z, model.decode(z_mean)):
        assert tensor.dtype == "float32"


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_cyclegan_trains_under_policy(policy):
    model = CycleGAN(image_size=16, generator_filters=4, discriminator_filters=4, num_residual_blocks=1, pool_size=2)
    model.compile()
    rng = np.random.default_rng(0)
    images_a, images_b = rng.uniform(-1, 1, (2, 2, 16, 16, 3)).astype("float32")
    dataset = tf.data.Dataset.zip(
        (tf.data.Dataset.from_tensor_slices(images_a), tf.data.Dataset.from_tensor_slices(images_b))
    ).batch(1)

    history = model.fit(dataset, epochs=1, verbose=0).history

    _assert_finite(history)
    _assert_float32_variables(model.variables)
    is_float16 = policy == "mixed_float16"
    for optimizer in (model.generator_optimizer, model.discriminator_optimizer):
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == is_float16
        _assert_float32_variables(optimizer.variables)
        _assert_two_steps_applied_or_skipped(optimizer)
    assert model.generator_a2b(images_a[:1]).dtype == "float32"
    assert model.discriminator_b(images_b[:1]).dtype == "float32"
