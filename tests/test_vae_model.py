import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cartoon.models import VAE_PRESETS, CartoonVAE
from tests.helpers import run_config_roundtrip, run_saving_roundtrip

TINY = dict(image_size=32, encoder_filters=[8, 8, 8, 8], decoder_filters=[8, 8, 8, 8], latent_dim=4, seed=1)

# Every layer of the baseline at 128x128: (name, output shape without batch).
BASELINE_ENCODER_TABLE = [
    ("encoder_input", (128, 128, 3)),
    ("encoder_conv_1", (64, 64, 8)),
    ("encoder_bn_1", (64, 64, 8)),
    ("encoder_relu_1", (64, 64, 8)),
    ("encoder_conv_2", (32, 32, 12)),
    ("encoder_bn_2", (32, 32, 12)),
    ("encoder_relu_2", (32, 32, 12)),
    ("encoder_conv_3", (16, 16, 24)),
    ("encoder_bn_3", (16, 16, 24)),
    ("encoder_relu_3", (16, 16, 24)),
    ("encoder_conv_4", (8, 8, 32)),
    ("encoder_bn_4", (8, 8, 32)),
    ("encoder_relu_4", (8, 8, 32)),
    ("encoder_flatten", (8 * 8 * 32,)),
    ("z_log_var_dense", (48,)),
    ("z_mean", (48,)),
    # Soft bound on the log-variance: 10 * tanh(x / 10), see SoftClip.
    ("z_log_var", (48,)),
    ("z", (48,)),
]
BASELINE_DECODER_TABLE = [
    ("decoder_input", (48,)),
    ("decoder_dense", (8 * 8 * 32,)),
    ("decoder_dense_bn", (8 * 8 * 32,)),
    ("decoder_dense_relu", (8 * 8 * 32,)),
    ("decoder_reshape", (8, 8, 32)),
    ("decoder_deconv_1", (16, 16, 24)),
    ("decoder_bn_1", (16, 16, 24)),
    ("decoder_relu_1", (16, 16, 24)),
    ("decoder_deconv_2", (32, 32, 12)),
    ("decoder_bn_2", (32, 32, 12)),
    ("decoder_relu_2", (32, 32, 12)),
    ("decoder_deconv_3", (64, 64, 8)),
    ("decoder_bn_3", (64, 64, 8)),
    ("decoder_relu_3", (64, 64, 8)),
    ("decoder_output_deconv", (128, 128, 3)),
    ("decoder_output", (128, 128, 3)),
]


def _images(num_images=4, size=32, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (num_images, size, size, 3)).astype("float32")


def _layer_table(model):
    return [(layer.name, tuple(layer.output.shape[1:])) for layer in model.layers]


def test_baseline_encoder_layers_match_table():
    vae = CartoonVAE()

    assert _layer_table(vae.encoder) == BASELINE_ENCODER_TABLE


def test_baseline_decoder_layers_match_table():
    vae = CartoonVAE()

    assert _layer_table(vae.decoder) == BASELINE_DECODER_TABLE


def test_baseline_activations_and_kernels():
    vae = CartoonVAE()

    for stage in range(1, 5):
        conv = vae.encoder.get_layer(f"encoder_conv_{stage}")
        assert conv.kernel_size == (4, 4)
        assert conv.strides == (2, 2)
    assert vae.decoder.get_layer("decoder_output").activation is keras.activations.tanh
    assert vae.decoder.output.dtype == "float32"


@pytest.mark.parametrize("preset", sorted(VAE_PRESETS))
def test_preset_builds_at_32(preset):
    vae = CartoonVAE(image_size=32, preset=preset, encoder_filters=[8, 8, 8, 8], decoder_filters=[8, 8, 8, 8])

    outputs = vae(_images(2), training=False)

    assert tuple(outputs.shape) == (2, 32, 32, 3)
    assert vae.encoder.output[0].shape[-1] == 48


def test_resnet_preset_has_residual_blocks():
    vae = CartoonVAE(image_size=32, preset="resnet", encoder_filters=[8, 8, 8, 8], decoder_filters=[8, 8, 8, 8])

    names = [layer.name for layer in vae.encoder.layers + vae.decoder.layers]

    assert "encoder_residual_1_1" in names
    assert "decoder_residual_3_1" in names


def test_wide_preset_default_filters():
    vae = CartoonVAE(image_size=32, preset="wide")

    assert vae.encoder.get_layer("encoder_conv_4").output.shape[-1] == 256
    assert vae.decoder.get_layer("decoder_deconv_3").output.shape[-1] == 32


@pytest.mark.parametrize("image_size", [0, 24, 100, 8])
def test_image_size_not_multiple_of_16_raises(image_size):
    with pytest.raises(ValueError, match=f"Received: image_size={image_size}"):
        CartoonVAE(image_size=image_size)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(encoder_filters=[8, 8, 8]), "encoder_filters"),
        (dict(decoder_filters=[8, 8, 0, 8]), "decoder_filters"),
        (dict(latent_dim=0), "latent_dim"),
        (dict(preset="huge"), "preset"),
        (dict(reconstruction_loss="ssim"), "reconstruction_loss"),
        (dict(kl_schedule="cosine"), "kl_schedule"),
        (dict(kl_weight=-1.0), "kl_weight"),
        (dict(free_bits=-0.5), "free_bits"),
    ],
)
def test_invalid_argument_names_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Received: {argument}="):
        CartoonVAE(image_size=32, **kwargs)


def test_config_roundtrip():
    init_kwargs = dict(
        TINY,
        preset="resnet",
        kl_weight=0.5,
        kl_schedule="cyclical",
        kl_warmup_steps=10,
        free_bits=0.25,
        reconstruction_loss="l1",
    )

    restored = run_config_roundtrip(CartoonVAE, init_kwargs)

    assert restored.kl_schedule == "cyclical"
    assert restored.encoder_filters == [8, 8, 8, 8]


def test_keras_file_roundtrip_gives_same_outputs(tmp_path):
    vae = CartoonVAE(**TINY)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    images = _images(2)
    vae.fit(tf.data.Dataset.from_tensor_slices(images).batch(2), epochs=1, verbose=0)

    restored = run_saving_roundtrip(vae, images, tmp_path)

    np.testing.assert_allclose(restored.sample(3, seed=5), vae.sample(3, seed=5), atol=1e-6)
    # The optimizer state comes back too, so a loaded model resumes its KL schedule.
    assert int(restored.optimizer.iterations) == 1


def test_fit_one_epoch_gives_finite_losses():
    vae = CartoonVAE(**TINY)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    dataset = tf.data.Dataset.from_tensor_slices(_images(4)).batch(2)

    history = vae.fit(dataset, validation_data=dataset, epochs=1, verbose=0).history

    for key in ("loss", "reconstruction_loss", "kl_loss", "kl_weight", "val_loss", "val_kl_loss"):
        assert np.isfinite(history[key][0]), key
    assert history["kl_weight"][0] == 1.0
    assert history["loss"][0] == pytest.approx(history["reconstruction_loss"][0] + history["kl_loss"][0], rel=1e-5)


def test_fit_accepts_image_label_tuples():
    vae = CartoonVAE(**TINY)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    images = _images(2)
    dataset = tf.data.Dataset.from_tensor_slices((images, np.zeros(2))).batch(2)

    history = vae.fit(dataset, epochs=1, verbose=0).history

    assert np.isfinite(history["loss"][0])


def test_fit_lowers_loss_on_repeated_batch():
    vae = CartoonVAE(**TINY)
    vae.compile(optimizer=keras.optimizers.Adam(3e-3))
    dataset = tf.data.Dataset.from_tensor_slices(_images(2)).batch(2).repeat(20)

    history = vae.fit(dataset, epochs=2, verbose=0).history

    assert history["loss"][1] < history["loss"][0]


def test_linear_schedule_reports_rising_kl_weight():
    vae = CartoonVAE(**TINY, kl_schedule="linear", kl_warmup_steps=4)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    dataset = tf.data.Dataset.from_tensor_slices(_images(2)).batch(2).repeat(2)

    history = vae.fit(dataset, epochs=2, verbose=0).history

    # Epoch 1 runs steps 0 and 1 (beta 0 and 0.25), epoch 2 steps 2 and 3 (0.5, 0.75).
    assert history["kl_weight"] == pytest.approx([0.125, 0.625])


def test_free_bits_floor_raises_reported_loss():
    images = _images(2)
    keras.utils.set_random_seed(0)
    plain = CartoonVAE(**TINY)
    keras.utils.set_random_seed(0)
    floored = CartoonVAE(**TINY, free_bits=100.0)
    for vae in (plain, floored):
        vae.compile(optimizer=keras.optimizers.Adam(1e-3))

    plain_logs = plain.evaluate(images, batch_size=2, return_dict=True, verbose=0)
    floored_logs = floored.evaluate(images, batch_size=2, return_dict=True, verbose=0)

    # With a 100-nat floor on each of 4 dimensions the KL penalty is exactly 400.
    assert floored_logs["loss"] == pytest.approx(floored_logs["reconstruction_loss"] + 400.0, rel=1e-5)
    assert plain_logs["loss"] < floored_logs["loss"]


def test_sample_is_deterministic_for_seed():
    vae = CartoonVAE(**TINY)

    first = keras.ops.convert_to_numpy(vae.sample(4, seed=3))
    second = keras.ops.convert_to_numpy(vae.sample(4, seed=3))
    other = keras.ops.convert_to_numpy(vae.sample(4, seed=4))

    assert first.shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other)
    assert np.all(np.abs(first) <= 1.0)


def test_reconstruct_uses_posterior_mean():
    vae = CartoonVAE(**TINY)
    images = _images(2)

    z_mean, z_log_var = vae.encode(images)
    reconstructed = vae.reconstruct(images)

    assert tuple(z_mean.shape) == (2, 4)
    assert tuple(z_log_var.shape) == (2, 4)
    np.testing.assert_allclose(reconstructed, vae.decode(z_mean), atol=1e-6)
    np.testing.assert_allclose(reconstructed, vae.reconstruct(images), atol=1e-6)


def test_mixed_float16_keeps_latent_and_output_float32():
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        vae = CartoonVAE(**TINY)
        vae.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3)))
        dataset = tf.data.Dataset.from_tensor_slices(_images(2)).batch(2)

        history = vae.fit(dataset, epochs=1, verbose=0).history
        z_mean, z_log_var = vae.encode(_images(2))
        conv_dtype = vae.encoder.get_layer("encoder_conv_1").compute_dtype
    finally:
        keras.mixed_precision.set_global_policy(policy)

    assert conv_dtype == "float16"
    assert z_mean.dtype == "float32"
    assert z_log_var.dtype == "float32"
    assert vae.decoder.output.dtype == "float32"
    assert np.isfinite(history["loss"][0])


def test_fit_under_mirrored_strategy():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        vae = CartoonVAE(**TINY)
        vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    dataset = tf.data.Dataset.from_tensor_slices(_images(4)).batch(2)

    history = vae.fit(dataset, epochs=1, verbose=0).history

    assert np.isfinite(history["loss"][0])
