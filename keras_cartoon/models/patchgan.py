"""PatchGAN discriminator: one real/fake logit per overlapping image patch."""

import keras

from keras_cartoon.models.cyclegan_layers import conv_initializer
from keras_cartoon.models.cyclegan_layers import instance_norm


def patchgan_discriminator(image_size=128, filters=64, num_downsampling=3, name="patchgan_discriminator"):
    """Build the PatchGAN discriminator as a functional `keras.Model`.

    With `num_downsampling=3` this is the 70x70 PatchGAN of pix2pix and
    CycleGAN: 4x4 convs with strides 2, 2, 2, 1 (filters `filters` up to
    `8 * filters`), then a 4x4 stride-1 conv to one channel. The receptive
    field of each output logit is a 70x70 input patch. The first conv has no
    norm, the others have instance norm, and all use LeakyReLU(0.2). `"same"`
    padding makes the output `image_size / 2**num_downsampling` on each side.

    Args:
        image_size: int. Input height and width, a multiple of
            `2**num_downsampling`. Defaults to `128`.
        filters: int. Filters of the first conv. Defaults to `64`.
        num_downsampling: int. Stride-2 layers. Defaults to `3`.
        name: str. Model name.

    Returns:
        A model mapping `(batch, H, W, 3)` images in [-1, 1] to float32 logits
        `(batch, H / 2**n, W / 2**n, 1)`.
    """
    if num_downsampling < 1:
        raise ValueError(f"`num_downsampling` must be >= 1. Received: num_downsampling={num_downsampling}")
    if not isinstance(image_size, int) or image_size % (2**num_downsampling):
        raise ValueError(
            f"`image_size` must be a multiple of 2**num_downsampling={2**num_downsampling}. "
            f"Received: image_size={image_size!r}"
        )

    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = inputs
    for i in range(num_downsampling + 1):
        x = keras.layers.Conv2D(
            filters * min(2**i, 8),
            4,
            strides=2 if i < num_downsampling else 1,
            padding="same",
            use_bias=i == 0,
            kernel_initializer=conv_initializer(),
            name=f"conv{i}",
        )(x)
        if i > 0:
            x = instance_norm(name=f"norm{i}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"lrelu{i}")(x)

    # Logits in float32 so the GAN losses are computed in float32 under mixed precision.
    outputs = keras.layers.Conv2D(
        1, 4, padding="same", kernel_initializer=conv_initializer(), dtype="float32", name="logits"
    )(x)
    return keras.Model(inputs, outputs, name=name)
