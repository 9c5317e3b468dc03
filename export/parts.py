"""Find the exportable parts of a loaded model and rebuild them in float32.

A `.keras` file contains one of three things:

- a `CartoonVAE` (attributes `encoder`, `decoder`): parts `decoder`, `encoder`;
- a `CycleGAN` (attributes `generator_a2b`, `generator_b2a`): parts
  `generator_a2b`, `generator_b2a`;
- a lone generator (a functional model mapping an image to an image of the
  same shape): part `generator`.
"""

import contextlib
import dataclasses

import keras
import tensorflow as tf

from export import conventions

VAE_PARTS = ("decoder", "encoder")
CYCLEGAN_PARTS = ("generator_a2b", "generator_b2a")
GENERATOR_PARTS = ("generator",)
# Name scope of the in-graph float-to-pixels conversion (see `tflite.convert`).
TO_PIXELS_SCOPE = "to_pixels"
DEFAULT_PARTS = {"vae": ("decoder",), "cyclegan": CYCLEGAN_PARTS, "generator": GENERATOR_PARTS}


@dataclasses.dataclass
class ExportPart:
    """A float32 functional model to export and how its tensors are read."""

    name: str
    kind: str  # "decoder", "encoder" or "generator"
    model: keras.Model

    @property
    def input_shape(self):
        """Shape of one example, without the batch axis."""
        return tuple(self.model.inputs[0].shape[1:])


def model_type(model):
    """Return "vae", "cyclegan" or "generator" for a loaded model, or raise ValueError."""
    if hasattr(model, "decoder") and hasattr(model, "encoder"):
        return "vae"
    if hasattr(model, "generator_a2b") and hasattr(model, "generator_b2a"):
        return "cyclegan"
    inputs = getattr(model, "inputs", None)
    outputs = getattr(model, "outputs", None)
    if inputs and outputs and len(inputs) == 1 and len(outputs) == 1:
        in_shape = tuple(inputs[0].shape[1:])
        out_shape = tuple(outputs[0].shape[1:])
        if len(in_shape) == 3 and in_shape == out_shape and in_shape[-1] == 3:
            return "generator"
    raise ValueError(
        "The model is neither a CartoonVAE (encoder, decoder), a CycleGAN "
        "(generator_a2b, generator_b2a) nor a generator mapping an (H, W, 3) image to an "
        f"image of the same shape. Received: model of type {type(model).__name__}"
    )


def available_parts(model):
    """Return the part names that `model` can export."""
    return {"vae": VAE_PARTS, "cyclegan": CYCLEGAN_PARTS, "generator": GENERATOR_PARTS}[model_type(model)]


def resolve_parts(model, requested=None):
    """Return float32 `ExportPart`s for `requested` names (default: the type's defaults).

    Raises:
        ValueError: when a requested part does not exist for this model type.
    """
    kind_of_model = model_type(model)
    names = tuple(requested) if requested else DEFAULT_PARTS[kind_of_model]
    unknown = [name for name in names if name not in available_parts(model)]
    if unknown:
        raise ValueError(
            f"Unknown part for a {kind_of_model} model: {', '.join(unknown)}. Choose from "
            f"{', '.join(available_parts(model))}. Received: parts={','.join(names)}"
        )
    parts = []
    for name in names:
        source = model if name == "generator" else getattr(model, name)
        kind = "generator" if name.startswith("generator") else name
        parts.append(ExportPart(name=name, kind=kind, model=rebuild_float32(source)))
    return parts


@contextlib.contextmanager
def _global_policy(name):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _force_float32(config):
    """Return a copy of a model config with every dtype policy replaced by "float32"."""
    if isinstance(config, dict):
        if config.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
            return "float32"
        rewritten = {}
        for key, item in config.items():
            is_mixed_policy_name = key == "dtype" and isinstance(item, str) and item.startswith("mixed")
            rewritten[key] = "float32" if is_mixed_policy_name else _force_float32(item)
        return rewritten
    if isinstance(config, list):
        return [_force_float32(item) for item in config]
    return config


def rebuild_float32(model):
    """Rebuild a functional model from its config under float32 and copy its weights.

    TFLite has no bfloat16 kernels, and a mixed_float16 graph would carry a
    cast around every layer into the file, so every part is exported from a
    float32 copy. Variables of a mixed-precision model are already float32,
    so the copy is exact.
    """
    with _global_policy("float32"):
        rebuilt = model.__class__.from_config(_force_float32(model.get_config()))
    rebuilt.set_weights(model.get_weights())
    not_float32 = [
        layer.name for layer in rebuilt._flatten_layers(include_self=False)
        if getattr(layer, "compute_dtype", "float32") != "float32"
    ]
    if not_float32:
        raise ValueError(
            "Rebuilding the model in float32 left layers with another compute dtype: "
            f"{', '.join(not_float32)}. Received: model={model.name!r}"
        )
    return rebuilt


def serving_function(part, uint8_io):
    """Return a `tf.function`-ready callable of one tensor returning a dict of named outputs.

    With `uint8_io`, the pixel conversions of `conventions` run inside the graph.
    """
    model = part.model
    output_names = conventions.OUTPUT_NAMES[part.kind]

    def serve(inputs):
        if uint8_io and part.kind != "decoder":
            inputs = tf.cast(inputs, tf.float32) / 127.5 - 1.0
        outputs = model(inputs, training=False)
        if part.kind == "encoder":
            # The encoder returns (z_mean, z_log_var, z). The sampled z is left
            # out because random ops make the file non-deterministic.
            if isinstance(outputs, dict):
                outputs = [outputs["z_mean"], outputs["z_log_var"]]
            return {name: tf.cast(value, tf.float32) for name, value in zip(output_names, outputs[:2])}
        image = tf.cast(outputs, tf.float32)
        if uint8_io:
            # The scope name lets the int8 converter keep these ops in float.
            with tf.name_scope(TO_PIXELS_SCOPE):
                image = tf.cast(tf.round(tf.clip_by_value((image + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)
        return {output_names[0]: image}

    return serve


def input_spec(part, uint8_io, batch_size):
    """Return the `tf.TensorSpec` of a part's input; `batch_size=None` is a dynamic batch."""
    dtype = tf.uint8 if uint8_io and part.kind != "decoder" else tf.float32
    name = conventions.INPUT_NAMES[part.kind]
    return tf.TensorSpec((batch_size, *part.input_shape), dtype, name=name)
