"""Speed experiments on the Keras side that need no change to keras_cartoon itself.

Each experiment patches Keras inside one worker process only, so the other
contenders are unaffected. A patch that helps is a candidate for the library.

`fused_batchnorm`: Keras 3.15's `BatchNormalization` computes training
statistics with `tf.nn.moments` and normalises with `tf.nn.batch_normalization`,
about ten separate elementwise ops forward and more backward. TensorFlow's
`FusedBatchNormV3` (oneDNN kernel on CPU) does statistics, normalisation and
their gradient in one op each. The patch uses it for 4-D channels-last float32
inputs without a mask or renorm, and falls back to the Keras code otherwise.
"""

import keras


def _fused_call(original_call):
    import tensorflow as tf

    def call(self, inputs, training=None, mask=None):
        fusable = (
            mask is None
            and not self.renorm
            and not self.synchronized
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and inputs.dtype == tf.float32
            and self.scale
            and self.center
        )
        if not fusable:
            return original_call(self, inputs, training=training, mask=mask)

        if training and self.trainable:
            # exponential_avg_factor makes the op return the updated moving
            # statistics: (1 - factor) * old + factor * batch. TF applies
            # Bessel's correction to the batch variance here, which Keras does
            # not, a relative change of 1 / (N*H*W - 1) to the moving variance.
            outputs, moving_mean, moving_variance = tf.compat.v1.nn.fused_batch_norm(
                inputs,
                self.gamma,
                self.beta,
                mean=self.moving_mean,
                variance=self.moving_variance,
                epsilon=self.epsilon,
                is_training=True,
                exponential_avg_factor=1.0 - self.momentum,
            )
            self.moving_mean.assign(moving_mean)
            self.moving_variance.assign(moving_variance)
            return outputs
        outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
            inputs,
            self.gamma,
            self.beta,
            mean=self.moving_mean,
            variance=self.moving_variance,
            epsilon=self.epsilon,
            is_training=False,
        )
        return outputs

    return call


def use_fused_batchnorm():
    """Patch `keras.layers.BatchNormalization.call` in this process to use `FusedBatchNormV3`."""
    layer_class = keras.layers.BatchNormalization
    if getattr(layer_class.call, "_fused_batchnorm", False):
        return
    patched = _fused_call(layer_class.call)
    patched._fused_batchnorm = True
    layer_class.call = patched


EXPERIMENTS = {"fused_batchnorm": use_fused_batchnorm}


def apply_experiments(names):
    """Apply the named experiments; raise ValueError for an unknown name."""
    for name in names:
        if name not in EXPERIMENTS:
            raise ValueError(f"Unknown Keras experiment; choose from {sorted(EXPERIMENTS)}. Received: {name!r}")
        EXPERIMENTS[name]()
