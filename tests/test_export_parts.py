"""Export parts: model type detection, part names, float32 rebuild of mixed-precision models.

The builders at the top are shared by the other `test_export_*` modules.
"""

import numpy as np
import pytest
import keras
from PIL import Image

from export import parts as parts_lib
from keras_cartoon.models.cyclegan import CycleGAN
from keras_cartoon.models.cyclegan_generators import resnet_generator
from keras_cartoon.models.vae import CartoonVAE

IMAGE_SIZE = 32
LATENT_DIM = 8


def smooth_images(num_images, seed=0, image_size=IMAGE_SIZE):
    """Smooth RGB images in [-1, 1]: 4x4 noise upsampled, like flat cartoon regions."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(-1.0, 1.0, (num_images, 4, 4, 3)).astype(np.float32)
    images = keras.ops.convert_to_numpy(keras.ops.image.resize(coarse, (image_size, image_size)))
    return np.clip(images, -1.0, 1.0)


def write_image_folder(folder, num_images, seed=0):
    """Write `num_images` smooth 40x40 PNGs into `folder` and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(smooth_images(num_images, seed, image_size=40)):
        pixels = np.rint((image + 1.0) * 127.5).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"image_{index:03d}.png")
    return folder


def build_trained_vae(steps=4):
    """A 32x32 CartoonVAE with 8 filters, fitted a few steps so BatchNorm statistics move."""
    vae = CartoonVAE(
        image_size=IMAGE_SIZE, encoder_filters=[8, 8, 8, 8], decoder_filters=[8, 8, 8, 8], latent_dim=LATENT_DIM, seed=0
    )
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    vae.fit(smooth_images(2 * steps), batch_size=2, epochs=1, verbose=0)
    return vae


def build_trained_generator(steps=4, name="generator_a2b"):
    """A 32x32 ResNet generator (8 filters, 2 blocks) fitted a few steps to flip images."""
    generator = resnet_generator(image_size=IMAGE_SIZE, filters=8, num_residual_blocks=2, name=name)
    generator.compile(optimizer=keras.optimizers.Adam(2e-3), loss="mae")
    images = smooth_images(2 * steps, seed=1)
    generator.fit(images, images[:, :, ::-1], batch_size=2, epochs=1, verbose=0)
    return generator


def test_model_type_detects_vae_cyclegan_generator():
    vae = CartoonVAE(image_size=IMAGE_SIZE, encoder_filters=[8] * 4, decoder_filters=[8] * 4, latent_dim=4)
    cyclegan = CycleGAN(image_size=IMAGE_SIZE, generator_filters=8, discriminator_filters=8, num_residual_blocks=1)
    generator = resnet_generator(image_size=IMAGE_SIZE, filters=8, num_residual_blocks=1)
    assert parts_lib.model_type(vae) == "vae"
    assert parts_lib.model_type(cyclegan) == "cyclegan"
    assert parts_lib.model_type(generator) == "generator"
    assert parts_lib.available_parts(vae) == ("decoder", "encoder")
    assert parts_lib.available_parts(cyclegan) == ("generator_a2b", "generator_b2a")


def test_model_type_rejects_classifier():
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    classifier = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(inputs)))
    with pytest.raises(ValueError, match="neither a CartoonVAE"):
        parts_lib.model_type(classifier)


def test_resolve_parts_defaults_and_kinds():
    cyclegan = CycleGAN(image_size=IMAGE_SIZE, generator_filters=8, discriminator_filters=8, num_residual_blocks=1)
    parts = parts_lib.resolve_parts(cyclegan)
    assert [part.name for part in parts] == ["generator_a2b", "generator_b2a"]
    assert {part.kind for part in parts} == {"generator"}
    vae = CartoonVAE(image_size=IMAGE_SIZE, encoder_filters=[8] * 4, decoder_filters=[8] * 4, latent_dim=4)
    (decoder,) = parts_lib.resolve_parts(vae)
    assert decoder.name == "decoder"
    assert decoder.input_shape == (4,)


def test_resolve_parts_unknown_part_names_choices():
    vae = CartoonVAE(image_size=IMAGE_SIZE, encoder_filters=[8] * 4, decoder_filters=[8] * 4, latent_dim=4)
    with pytest.raises(ValueError, match="Unknown part for a vae model: generator_a2b. Choose from decoder, encoder"):
        parts_lib.resolve_parts(vae, ["generator_a2b"])


def test_rebuild_float32_copies_weights_exactly():
    generator = build_trained_generator(steps=1)
    rebuilt = parts_lib.rebuild_float32(generator)
    images = smooth_images(2)
    np.testing.assert_allclose(rebuilt(images, training=False), generator(images, training=False), atol=1e-6)


def test_rebuild_float32_of_mixed_bfloat16_vae():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        vae = build_trained_vae(steps=2)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert any(layer.compute_dtype == "bfloat16" for layer in vae.decoder.layers)

    rebuilt = parts_lib.rebuild_float32(vae.decoder)
    compute_dtypes = {layer.compute_dtype for layer in rebuilt._flatten_layers(include_self=False)}
    assert compute_dtypes == {"float32"}
    latents = np.random.default_rng(0).standard_normal((2, LATENT_DIM)).astype(np.float32)
    # bfloat16 keeps 8 bits of mantissa, so the mixed model is only close to the float32 copy.
    np.testing.assert_allclose(rebuilt(latents), vae.decoder(latents), atol=0.1)
