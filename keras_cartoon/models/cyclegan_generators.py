"""CycleGAN generators: ResNet (the reference recipe) and U-Net, image in [-1, 1] -> image in [-1, 1]."""

import math

import keras

from keras_cartoon.models.cyclegan_layers import ReflectionPadding2D
from keras_cartoon.models.cyclegan_layers import conv_initializer
from keras_cartoon.models.cyclegan_layers import instance_norm
from keras_cartoon.models.cyclegan_layers import residual_block

GENERATOR_TYPES = ("resnet", "unet")


def default_num_residual_blocks(image_size):
    """Return 6 residual blocks below 256x256 and 9 from 256x256 up (the CycleGAN paper's choice)."""
    return 9 if image_size >= 256 else 6


def _check_image_size(image_size, multiple):
    if not isinstance(image_size, int) or image_size < multiple or image_size % multiple:
        raise ValueError(
            f"`image_size` must be a positive multiple of {multiple} for this generator. "
            f"Received: image_size={image_size!r}"
        )


def _tanh_output(x):
    # Float32 output under mixed precision: the losses and saved images need it.
    return keras.layers.Activation("tanh", dtype="float32", name="output_tanh")(x)


def resnet_generator(image_size=128, filters=64, num_residual_blocks=None, name="resnet_generator"):
    """Build the CycleGAN ResNet generator as a functional `keras.Model`.

    Layout: reflection pad 3 + 7x7 conv, two stride-2 3x3 convs
    (`filters`, `2 * filters`, `4 * filters`), `num_residual_blocks` residual
    blocks at 1/4 resolution, two stride-2 transposed convs back up, reflection
    pad 3 + 7x7 conv to 3 channels, tanh. Instance norm and ReLU after each
    hidden conv.

    Args:
        image_size: int. Height and width of the square input; a multiple of 4.
            Defaults to `128`.
        filters: int. Filters of the first conv. Defaults to `64`.
        num_residual_blocks: int or None. None picks 6 below 256x256 and 9
            from 256x256 up. Defaults to `None`.
        name: str. Model name.

    Example:
        generator = resnet_generator(image_size=32, filters=8, num_residual_blocks=2)
        fake_b = generator(real_a)  # (batch, 32, 32, 3) in [-1, 1]
    """
    _check_image_size(image_size, 4)
    if num_residual_blocks is None:
        num_residual_blocks = default_num_residual_blocks(image_size)
    if num_residual_blocks < 0:
        raise ValueError(
            f"`num_residual_blocks` must be >= 0 or None. Received: num_residual_blocks={num_residual_blocks}"
        )

    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = ReflectionPadding2D(3, name="stem_pad")(inputs)
    x = keras.layers.Conv2D(filters, 7, use_bias=False, kernel_initializer=conv_initializer(), name="stem_conv")(x)
    x = instance_norm(name="stem_norm")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)

    for i, multiplier in enumerate((2, 4)):
        x = keras.layers.Conv2D(
            filters * multiplier,
            3,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer=conv_initializer(),
            name=f"down{i}_conv",
        )(x)
        x = instance_norm(name=f"down{i}_norm")(x)
        x = keras.layers.ReLU(name=f"down{i}_relu")(x)

    for i in range(num_residual_blocks):
        x = residual_block(x, filters * 4, name=f"residual{i}")

    for i, multiplier in enumerate((2, 1)):
        x = keras.layers.Conv2DTranspose(
            filters * multiplier,
            3,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer=conv_initializer(),
            name=f"up{i}_conv",
        )(x)
        x = instance_norm(name=f"up{i}_norm")(x)
        x = keras.layers.ReLU(name=f"up{i}_relu")(x)

    x = ReflectionPadding2D(3, name="head_pad")(x)
    x = keras.layers.Conv2D(3, 7, kernel_initializer=conv_initializer(), name="head_conv")(x)
    outputs = _tanh_output(x)
    return keras.Model(inputs, outputs, name=name)


def unet_depth(image_size):
    """Return the number of stride-2 levels that take `image_size` down to 4x4, at most 7."""
    return min(7, int(math.log2(image_size)) - 2)


def unet_generator(image_size=128, filters=64, name="unet_generator"):
    """Build a U-Net generator (pix2pix style) as a functional `keras.Model`.

    Stride-2 4x4 convs halve the image down to 4x4 (filters `filters`, then
    doubling up to `8 * filters`), transposed convs go back up, and each
    level concatenates the matching encoder features. LeakyReLU(0.2) in the
    encoder, ReLU in the decoder, instance norm everywhere except the first
    conv. The bottleneck stays at 4x4 because instance norm of a 1x1 map is
    constant.

    Args:
        image_size: int. A power of two, at least 8. Defaults to `128`.
        filters: int. Filters of the first conv. Defaults to `64`.
        name: str. Model name.
    """
    if not isinstance(image_size, int) or image_size < 8 or image_size & (image_size - 1):
        raise ValueError(f"U-Net `image_size` must be a power of two >= 8. Received: image_size={image_size!r}")
    depth = unet_depth(image_size)

    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = inputs
    skips = []
    for i in range(depth):
        x = keras.layers.Conv2D(
            filters * min(2**i, 8),
            4,
            strides=2,
            padding="same",
            use_bias=i == 0,
            kernel_initializer=conv_initializer(),
            name=f"down{i}_conv",
        )(x)
        if i > 0:
            x = instance_norm(name=f"down{i}_norm")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"down{i}_lrelu")(x)
        skips.append(x)

    # The deepest features feed the decoder directly; the others are skips.
    skips = skips[:-1]
    for i in reversed(range(depth - 1)):
        x = keras.layers.Conv2DTranspose(
            filters * min(2**i, 8),
            4,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer=conv_initializer(),
            name=f"up{i}_conv",
        )(x)
        x = instance_norm(name=f"up{i}_norm")(x)
        x = keras.layers.ReLU(name=f"up{i}_relu")(x)
        x = keras.layers.Concatenate(name=f"up{i}_concat")([x, skips[i]])

    x = keras.layers.Conv2DTranspose(
        3, 4, strides=2, padding="same", kernel_initializer=conv_initializer(), name="head_conv"
    )(x)
    outputs = _tanh_output(x)
    return keras.Model(inputs, outputs, name=name)


def build_generator(generator="resnet", image_size=128, filters=64, num_residual_blocks=None, name=None):
    """Build a generator by type name: `"resnet"` or `"unet"`."""
    if generator == "resnet":
        return resnet_generator(image_size, filters, num_residual_blocks, name=name or "resnet_generator")
    if generator == "unet":
        return unet_generator(image_size, filters, name=name or "unet_generator")
    raise ValueError(f"`generator` must be one of {GENERATOR_TYPES}. Received: generator={generator!r}")
