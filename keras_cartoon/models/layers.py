"""VAE layers: posterior sampling and the residual block of the `resnet` preset.

The CycleGAN layers (reflection padding, instance normalization) are in
`cyclegan_layers.py`.
"""

import keras
import tensorflow as tf
from keras import ops

_PACKAGE = "keras_cartoon"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Sampling(keras.layers.Layer):
    """Draw `z = z_mean + exp(z_log_var / 2) * epsilon` with `epsilon ~ N(0, I)`.

    The reparameterisation trick of Kingma and Welling (2014) keeps `z`
    differentiable in `z_mean` and `z_log_var`. The layer samples in training
    and in inference. Callers that want the mean use `z_mean` directly.

    Args:
        seed: int or None. Seed of the layer's `keras.random.SeedGenerator`.
            Defaults to `None`.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ResidualBlock(keras.layers.Layer):
    """Two 3x3 convolutions with BatchNormalization and a skip connection (He et al., 2016).

    Output: `inputs + bn(conv(relu(bn(conv(inputs)))))`, the shape of the
    input, so the input must have `filters` channels.

    Args:
        filters: int. Channels of both convolutions and of the input.
    """

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv_1 = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv_1")
        self.bn_1 = FusedBatchNormalization(name="bn_1")
        self.conv_2 = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv_2")
        self.bn_2 = FusedBatchNormalization(name="bn_2")

    def build(self, input_shape):
        if input_shape[-1] != self.filters:
            raise ValueError(
                "ResidualBlock adds its input to its output, so the input channels must equal "
                f"`filters`. Received: filters={self.filters}, input channels={input_shape[-1]}"
            )
        self.conv_1.build(input_shape)
        self.bn_1.build(input_shape)
        self.conv_2.build(input_shape)
        self.bn_2.build(input_shape)

    def call(self, inputs, training=None):
        x = self.conv_1(inputs)
        x = self.bn_1(x, training=training)
        x = ops.relu(x)
        x = self.conv_2(x)
        x = self.bn_2(x, training=training)
        return inputs + x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters})
        return config


@keras.saving.register_keras_serializable(package="keras_cartoon")
class SoftClip(keras.layers.Layer):
    """Bound values smoothly to (-bound, bound) with `bound * tanh(x / bound)`.

    The VAE passes `z_log_var` through this layer: one Adam step can move a
    dense layer fed by 16k features enough to make `exp(z_log_var)` overflow
    (seen with the `resnet` preset at learning rate 1e-3). Unlike a hard clip,
    the gradient never becomes zero, so the KL term can still pull the value
    back. Near zero it is the identity (error below 1% for |x| < bound / 6).

    Args:
        bound: float. Limit of the output magnitude. Defaults to 10.0, which
            allows posterior standard deviations from exp(-5) to exp(5).
    """

    def __init__(self, bound=10.0, **kwargs):
        super().__init__(**kwargs)
        self.bound = bound

    def call(self, inputs):
        return self.bound * ops.tanh(inputs / self.bound)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"bound": self.bound})
        return config


def fused_batch_norm_call(layer, inputs, training=None, mask=None):
    """Run a `BatchNormalization` layer through TensorFlow's fused kernel.

    Returns the outputs, or None when the fused op does not apply: inputs that
    are not float32 4-D channels-last, a mask, renorm, synchronized statistics,
    or a layer without scale or center. The caller then runs the Keras code.
    """
    fusable = (
        mask is None
        and not layer.renorm
        and not layer.synchronized
        and len(inputs.shape) == 4
        and layer.axis in (-1, 3)
        and inputs.dtype == tf.float32
        and layer.scale
        and layer.center
    )
    if not fusable:
        return None

    if training and layer.trainable:
        # exponential_avg_factor makes the op return the updated moving
        # statistics: (1 - factor) * old + factor * batch.
        outputs, moving_mean, moving_variance = tf.compat.v1.nn.fused_batch_norm(
            inputs,
            layer.gamma,
            layer.beta,
            mean=layer.moving_mean,
            variance=layer.moving_variance,
            epsilon=layer.epsilon,
            is_training=True,
            exponential_avg_factor=1.0 - layer.momentum,
        )
        layer.moving_mean.assign(moving_mean)
        layer.moving_variance.assign(moving_variance)
        return outputs

    outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
        inputs,
        layer.gamma,
        layer.beta,
        mean=layer.moving_mean,
        variance=layer.moving_variance,
        epsilon=layer.epsilon,
        is_training=False,
    )
    return outputs


@keras.saving.register_keras_serializable(package="keras_cartoon")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`BatchNormalization` that runs TensorFlow's fused kernel where it can.

    Keras 3.15 normalises with about ten separate element-wise ops forward and
    more backward. `FusedBatchNormV3` (a oneDNN kernel on CPU) does statistics,
    normalisation and their gradient in one op each. It took the baseline VAE's
    training from 743 to 926 images/s at batch 64 on a 2-core x86 CPU
    (benchmarks/run.py, contender `keras_fused_bn`). The fused path covers
    float32 4-D channels-last inputs with scale and center and no mask. Any
    other case (a Dense output, mixed precision) runs the Keras code. Weights
    and config are those of `keras.layers.BatchNormalization`.

    NOTE: in training the fused op updates the moving variance with the
    unbiased batch variance (Bessel's correction), where Keras uses the biased
    one: a relative difference of 1 / (batch * height * width - 1).
    """

    def call(self, inputs, training=None, mask=None):
        outputs = fused_batch_norm_call(self, inputs, training=training, mask=mask)
        if outputs is None:
            return super().call(inputs, training=training, mask=mask)
        return outputs
