"""Mixed precision policy from a name, and loss-scale wrapping of optimizers."""

import keras
import tensorflow as tf
from absl import logging

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16", "auto")


def resolve_precision(name):
    """Map `"auto"` to a concrete policy name: mixed_float16 with a GPU, mixed_bfloat16 otherwise.

    float16 needs loss scaling but runs on the tensor cores of every recent
    NVIDIA GPU. bfloat16 has float32's exponent range, so it needs no loss
    scaling, and TPUs and recent CPUs run it natively.
    """
    if name not in PRECISIONS:
        raise ValueError(f"`mixed_precision` must be one of {list(PRECISIONS)}. Received: mixed_precision={name!r}")
    if name != "auto":
        return name
    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


def configure_precision(name):
    """Set the global Keras dtype policy from `name` and return the policy name set.

    Models built after this call use the policy: layers compute in float16 or
    bfloat16 and keep float32 weights. Layers that set `dtype="float32"` stay
    in float32.
    """
    policy = resolve_precision(name)
    keras.mixed_precision.set_global_policy(policy)
    if name == "auto":
        logging.info("Precision policy: %s (from mixed_precision='auto').", policy)
    else:
        logging.info("Precision policy: %s.", policy)
    return policy


def wrap_optimizer(optimizer):
    """Wrap `optimizer` in a `LossScaleOptimizer` when the global policy is mixed_float16.

    float16 gradients of small losses underflow to zero; dynamic loss scaling
    multiplies the loss before the gradient and divides the gradients after.
    Other policies, and optimizers already wrapped, are returned unchanged.
    """
    if keras.mixed_precision.global_policy().name != "mixed_float16":
        return optimizer
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer)
