"""Speed experiments on the Keras side that need no change to keras_cartoon itself.

Each experiment patches Keras inside one worker process only, so the other
contenders are unaffected. A patch that helps is a candidate for the library.

`fused_batchnorm`: Keras 3.15's `BatchNormalization` computes training
statistics with `tf.nn.moments` and normalises with `tf.nn.batch_normalization`,
about ten separate elementwise ops forward and more backward. TensorFlow's
`FusedBatchNormV3` (oneDNN kernel on CPU) does statistics, normalisation and
their gradient in one op each. The patch runs
`keras_cartoon.models.layers.fused_batch_norm_call`, the code behind the
library's `FusedBatchNormalization`, in every Keras `BatchNormalization`.
"""

import keras


def _fused_call(original_call):
    from keras_cartoon.models.layers import fused_batch_norm_call

    def call(self, inputs, training=None, mask=None):
        outputs = fused_batch_norm_call(self, inputs, training=training, mask=mask)
        if outputs is None:
            return original_call(self, inputs, training=training, mask=mask)
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
