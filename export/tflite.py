"""Convert a batch-1 SavedModel to TFLite in one of four variants, builtin ops only."""

import numpy as np
import tensorflow as tf
from absl import logging

from export import conventions

# Flex (Select TF) kernels are named "Flex<TF op>" in the flatbuffer and need
# the large Flex delegate on the device, which apps should not have to ship.
FLEX_PREFIX = "Flex"


def convert(saved_model_dir, variant, representative_dataset=None, integer_io=True, float_scope=None):
    """Return the TFLite flatbuffer bytes of `saved_model_dir` for `variant`.

    Args:
        saved_model_dir: a SavedModel whose `serving_default` has a static
            batch-1 input.
        variant: one of `conventions.VARIANTS`.
        representative_dataset: for "int8", a callable returning an iterable
            of `{input_name: array}` dicts of batch 1 (calibration inputs).
        integer_io: for "int8", store float boundary tensors as uint8 with a
            scale and zero point, so the file runs with integer-only kernels.
        float_scope: for "int8", a TF name scope whose ops stay float.
    """
    if variant not in conventions.VARIANTS:
        raise ValueError(f"Unknown variant. Choose from {', '.join(conventions.VARIANTS)}. Received: variant={variant!r}")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=["serving_default"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]

    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic_range":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        if representative_dataset is None:
            raise ValueError("The int8 variant needs calibration inputs. Received: representative_dataset=None")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        # NOTE: ops without an int8 kernel (the NEG and SQUARE of instance
        # normalisation) stay float between DEQUANTIZE/QUANTIZE pairs, which
        # TFLITE_BUILTINS allows; TFLITE_BUILTINS_INT8 alone would reject them.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
        if integer_io:
            converter.inference_input_type = tf.uint8
            converter.inference_output_type = tf.uint8
    content = converter.convert()
    if variant == "int8" and float_scope:
        content = _requantize_keeping_float(converter, content, float_scope, representative_dataset)
    return content


def _requantize_keeping_float(converter, content, float_scope, representative_dataset):
    """Convert again with the ops under `float_scope` left in float.

    Quantized, the float-to-pixels ops get int8 ranges calibrated on what the
    calibration images produced, which clips brighter pixels (on a tiny
    generator the output topped out at 239). In float they cost a DEQUANTIZE.
    """
    from ai_edge_litert.interpreter import Interpreter

    tensor_names = [detail["name"] for detail in Interpreter(model_content=content).get_tensor_details()]
    float_nodes = [name for name in tensor_names if float_scope in name.split("/")]
    if not float_nodes:
        logging.warning("No tensor under %r in the int8 file; its pixel conversion stays quantized.", float_scope)
        return content
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=float_nodes)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=representative_dataset, debug_options=options
    )
    return debugger.get_nondebug_quantized_model()


def list_ops(model_content):
    """Return the sorted op names in a TFLite flatbuffer's operator table.

    Builtin ops get their schema name (for example "CONV_2D"); custom ops,
    Flex ops included, get their custom code (for example "FlexErf").
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    builtin_names = {
        code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")
    }
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_content))
    names = set()
    for operator_code in model.operatorCodes:
        # Codes above 127 live in `builtinCode`; `deprecatedBuiltinCode` keeps
        # the old int8 field and reads 127 for them.
        code = max(operator_code.builtinCode, operator_code.deprecatedBuiltinCode)
        if code == schema.BuiltinOperator.CUSTOM:
            custom = operator_code.customCode
            names.add(custom.decode() if isinstance(custom, bytes) else str(custom))
        else:
            names.add(builtin_names.get(code, f"BUILTIN_{code}"))
    return sorted(names)


def check_builtins_only(model_content, label):
    """Raise ValueError when the flatbuffer contains Flex (Select TF) or custom ops."""
    ops = list_ops(model_content)
    builtin_names = set(vars(_schema().BuiltinOperator))
    not_builtin = [name for name in ops if name not in builtin_names or name == "CUSTOM"]
    if not_builtin:
        raise ValueError(
            f"{label} contains ops that are not TFLite builtins (Flex ops start with "
            f"{FLEX_PREFIX!r}), so apps would need extra delegates: {', '.join(not_builtin)}"
        )
    logging.debug("%s uses ops %s", label, ", ".join(ops))
    return ops


def _schema():
    from tensorflow.lite.python import schema_py_generated

    return schema_py_generated


def latent_calibration(input_name, latent_dim, num_samples, seed):
    """Return a representative dataset of N(0, I) latent draws for the decoder."""
    rng = np.random.default_rng(seed)
    latents = rng.standard_normal((num_samples, 1, latent_dim)).astype(np.float32)

    def dataset():
        for latent in latents:
            yield {input_name: latent}

    return dataset


def image_calibration(input_name, images, uint8_io):
    """Return a representative dataset of images (float [-1, 1], shape (N, H, W, 3))."""

    def dataset():
        for image in images:
            batch = image[np.newaxis]
            yield {input_name: conventions.float_to_pixels(batch) if uint8_io else batch.astype(np.float32)}

    return dataset
