"""CycleGAN networks, losses, schedule and model: shapes, config and .keras round trips, one fit step."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cartoon import cyclegan_losses
from keras_cartoon.models.cyclegan import CycleGAN
from keras_cartoon.models.cyclegan_generators import resnet_generator
from keras_cartoon.models.cyclegan_generators import unet_generator
from keras_cartoon.models.cyclegan_layers import ReflectionPadding2D
from keras_cartoon.models.patchgan import patchgan_discriminator
from keras_cartoon.schedules import LinearDecaySchedule
from tests.helpers import run_config_roundtrip
from tests.helpers import run_saving_roundtrip

TINY = dict(image_size=32, generator_filters=8, discriminator_filters=8, num_residual_blocks=1, pool_size=4)


def _images(seed, count=2, size=32):
    return np.random.default_rng(seed).uniform(-1, 1, (count, size, size, 3)).astype("float32")


def _unpaired_dataset(count=4):
    return tf.data.Dataset.zip(
        (tf.data.Dataset.from_tensor_slices(_images(1, count)), tf.data.Dataset.from_tensor_slices(_images(2, count)))
    ).batch(2)


def test_reflection_padding_mirrors_border():
    image = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
    padded = keras.ops.convert_to_numpy(ReflectionPadding2D(1)(image))[0, :, :, 0]
    assert padded.shape == (5, 5)
    np.testing.assert_array_equal(padded[0, 1:4], [3, 4, 5])
    np.testing.assert_array_equal(padded[1:4, 0], [1, 4, 7])


@pytest.mark.parametrize("blocks, expected", [(None, 6), (2, 2)])
def test_resnet_generator_blocks_and_range(blocks, expected):
    generator = resnet_generator(image_size=32, filters=8, num_residual_blocks=blocks)
    outputs = keras.ops.convert_to_numpy(generator(_images(0)))
    assert outputs.shape == (2, 32, 32, 3)
    assert outputs.dtype == np.float32
    assert np.all(np.abs(outputs) <= 1.0)
    assert sum(layer.name.endswith("_add") for layer in generator.layers) == expected


def test_resnet_generator_nine_blocks_at_256():
    generator = resnet_generator(image_size=256, filters=4)
    assert sum(layer.name.endswith("_add") for layer in generator.layers) == 9


def test_unet_generator_output_shape():
    outputs = unet_generator(image_size=32, filters=8)(_images(0))
    assert tuple(outputs.shape) == (2, 32, 32, 3)


def test_unet_rejects_non_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        unet_generator(image_size=48)


def test_patchgan_output_and_receptive_field():
    discriminator = patchgan_discriminator(image_size=128, filters=8)
    assert discriminator.output_shape == (None, 16, 16, 1)
    # 70x70 patches: kernel 4 at strides 2, 2, 2, 1, 1.
    receptive_field = 1
    for layer in reversed([layer for layer in discriminator.layers if isinstance(layer, keras.layers.Conv2D)]):
        receptive_field = (receptive_field - 1) * layer.strides[0] + layer.kernel_size[0]
    assert receptive_field == 70


def test_lsgan_losses_zero_at_targets():
    ones = np.ones((2, 4, 4, 1), "float32")
    zeros = np.zeros((2, 4, 4, 1), "float32")
    np.testing.assert_allclose(cyclegan_losses.generator_adversarial_loss(ones), [0.0, 0.0])
    np.testing.assert_allclose(cyclegan_losses.discriminator_loss(ones, zeros), [0.0, 0.0])
    np.testing.assert_allclose(cyclegan_losses.discriminator_loss(zeros, ones), [1.0, 1.0])


@pytest.mark.parametrize("gan_loss", ["vanilla", "hinge"])
def test_other_gan_losses_prefer_correct_logits(gan_loss):
    confident = np.full((1, 2, 2, 1), 3.0, "float32")
    assert float(cyclegan_losses.discriminator_loss(confident, -confident, gan_loss)[0]) < float(
        cyclegan_losses.discriminator_loss(-confident, confident, gan_loss)[0]
    )


def test_unknown_gan_loss_rejected():
    with pytest.raises(ValueError, match="gan_loss"):
        CycleGAN(**TINY, gan_loss="wgan")


def test_linear_decay_schedule_values():
    schedule = LinearDecaySchedule(2e-4, total_steps=100, decay_start_step=50)
    values = [float(schedule(step)) for step in (0, 49, 50, 75, 100, 150)]
    np.testing.assert_allclose(values, [2e-4, 2e-4, 2e-4, 1e-4, 0.0, 0.0], atol=1e-9)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert restored.get_config() == schedule.get_config()


def test_linear_decay_rejects_late_start():
    with pytest.raises(ValueError, match="decay_start_step"):
        LinearDecaySchedule(2e-4, total_steps=10, decay_start_step=11)


def test_cyclegan_config_roundtrip():
    run_config_roundtrip(CycleGAN, dict(TINY, generator="unet", gan_loss="hinge", cycle_weight=5.0, seed=3))


@pytest.mark.parametrize("generator", ["resnet", "unet"])
def test_generator_keras_roundtrip(generator, tmp_path):
    model = CycleGAN(**dict(TINY, generator=generator))
    run_saving_roundtrip(model.generator_a2b, _images(0), tmp_path)
    run_saving_roundtrip(model.generator_b2a, _images(1), tmp_path)


def test_fit_trains_every_network_and_saves(tmp_path):
    # One graph-mode fit serves several checks: tracing the step is the slow part.
    model = CycleGAN(**TINY)
    model.compile()
    networks = (model.generator_a2b, model.generator_b2a, model.discriminator_a, model.discriminator_b)
    before = [network.get_weights()[0].copy() for network in networks]
    history = model.fit(_unpaired_dataset(), epochs=1, verbose=0).history

    expected = {
        "total_generator_loss",
        "generator_a2b_loss",
        "generator_b2a_loss",
        "cycle_loss",
        "identity_loss",
        "discriminator_a_loss",
        "discriminator_b_loss",
    }
    assert set(history) == expected
    for key in expected:
        assert np.isfinite(history[key][0]), key
    for network, weights in zip(networks, before):
        assert not np.allclose(network.get_weights()[0], weights), f"{network.name} did not train"
    assert int(model._pool_a.count.numpy()) == 4

    path = tmp_path / "cyclegan.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    images = _images(5)
    np.testing.assert_allclose(restored.generator_b2a(images), model.generator_b2a(images), atol=1e-6)
    np.testing.assert_allclose(restored.discriminator_a(images), model.discriminator_a(images), atol=1e-6)


def test_mixed_float16_wraps_optimizers_and_trains():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = CycleGAN(**TINY)
        model.compile()
        history = model.fit(_unpaired_dataset(2), epochs=1, verbose=0).history
        assert model.generator_a2b.output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert isinstance(model.generator_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(model.discriminator_optimizer, keras.optimizers.LossScaleOptimizer)
    assert all(np.isfinite(values[0]) for values in history.values())
