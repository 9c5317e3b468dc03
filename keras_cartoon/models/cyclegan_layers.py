"""Building blocks of the CycleGAN networks: reflection padding, instance norm, residual block."""

import keras
from keras import ops

# Weights start from N(0, 0.02), as in the CycleGAN reference implementation
# (junyanz/pytorch-CycleGAN-and-pix2pix, `init_type="normal"`, `init_gain=0.02`).
INIT_STDDEV = 0.02


def conv_initializer():
    return keras.initializers.RandomNormal(mean=0.0, stddev=INIT_STDDEV)


def gamma_initializer():
    return keras.initializers.RandomNormal(mean=1.0, stddev=INIT_STDDEV)


@keras.saving.register_keras_serializable(package="keras_cartoon.cyclegan")
class ReflectionPadding2D(keras.layers.Layer):
    """Pad height and width by mirroring the border (the edge pixel is not repeated).

    Zero padding gives the generator a dark frame to copy into its output;
    mirrored borders avoid it. Lowers to `MIRROR_PAD` in TFLite.

    Args:
        padding: int or tuple `(pad_height, pad_width)`. Pixels added on each
            side. Defaults to `1`.
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = (padding, padding)
        padding = tuple(int(p) for p in padding)
        if len(padding) != 2 or min(padding) < 0:
            raise ValueError(
                "`padding` must be a non-negative int or a pair of them. "
                f"Received: padding={padding}"
            )
        self.padding = padding

    def call(self, inputs):
        pad_height, pad_width = self.padding
        return ops.pad(
            inputs, [[0, 0], [pad_height, pad_height], [pad_width, pad_width], [0, 0]], mode="reflect"
        )

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        pad_height, pad_width = self.padding
        height = None if height is None else height + 2 * pad_height
        width = None if width is None else width + 2 * pad_width
        return (batch, height, width, channels)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding})
        return config


def instance_norm(name=None):
    """Instance normalization: `GroupNormalization` with one group per channel.

    Each image and channel is normalized over height and width, so the result
    does not depend on the batch (batch size 1 and any number of replicas
    behave the same). The scale starts from N(1, 0.02).
    """
    return keras.layers.GroupNormalization(
        groups=-1, epsilon=1e-5, gamma_initializer=gamma_initializer(), name=name
    )


def residual_block(x, filters, name):
    """Two reflection-padded 3x3 convolutions with instance norm, added to the input."""
    shortcut = x
    x = ReflectionPadding2D(1, name=f"{name}_pad1")(x)
    x = keras.layers.Conv2D(
        filters, 3, use_bias=False, kernel_initializer=conv_initializer(), name=f"{name}_conv1"
    )(x)
    x = instance_norm(name=f"{name}_norm1")(x)
    x = keras.layers.ReLU(name=f"{name}_relu1")(x)
    x = ReflectionPadding2D(1, name=f"{name}_pad2")(x)
    x = keras.layers.Conv2D(
        filters, 3, use_bias=False, kernel_initializer=conv_initializer(), name=f"{name}_conv2"
    )(x)
    x = instance_norm(name=f"{name}_norm2")(x)
    return keras.layers.Add(name=f"{name}_add")([shortcut, x])
