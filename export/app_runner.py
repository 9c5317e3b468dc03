"""Run an exported TFLite file as an app does: conventions from its JSON, LiteRT interpreter.

This module contains the logic of `python -m export.run_tflite`; mobile code
follows the same steps (see docs/export.md).
"""

import json
import pathlib

import numpy as np


def read_conventions(model_path):
    json_path = pathlib.Path(model_path).with_suffix(".json")
    if not json_path.is_file():
        raise ValueError(
            f"The conventions file {json_path} is missing; it is written beside every exported "
            f".tflite file. Re-run `python -m export`. Received: --model={model_path}"
        )
    return json.loads(json_path.read_text(encoding="utf-8"))


def to_tensor(values, spec):
    """Convert float values (the model's float convention) to the input tensor's dtype."""
    if "quantization" in spec:
        # int8 files without --uint8_io take uint8 codes: q = real / scale + zero_point.
        scale = spec["quantization"]["scale"]
        zero_point = spec["quantization"]["zero_point"]
        return np.clip(np.round(values / scale + zero_point), 0, 255).astype(np.uint8)
    if spec["dtype"] == "uint8":
        # --uint8_io: the graph divides by 127.5 and subtracts 1 itself.
        return np.clip(np.rint((values + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return values.astype(np.float32)


def to_pixels(values, spec):
    """Convert an output tensor to uint8 RGB pixels."""
    if "quantization" in spec:
        scale = spec["quantization"]["scale"]
        zero_point = spec["quantization"]["zero_point"]
        values = scale * (values.astype(np.float32) - zero_point)
    elif spec["dtype"] == "uint8":
        return values
    return np.clip(np.rint((values + 1.0) * 127.5), 0, 255).astype(np.uint8)


def make_input(conventions, image_path, seed):
    """Build the float input in [-1, 1] (image) or N(0, I) (latent), batch 1."""
    spec = conventions["inputs"][0]
    shape = tuple(spec["shape"])
    if conventions["kind"] == "decoder":
        if seed is None:
            raise ValueError("A decoder file needs --seed=N for its latent draw. Received: --seed=None")
        return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    if image_path is None:
        raise ValueError(f"A {conventions['kind']} file needs --input=IMAGE. Received: --input=None")
    from keras_cartoon.data import decode_image_file

    return decode_image_file(image_path, shape[1])[np.newaxis]


def run_file(model_path, image_path=None, seed=None):
    """Run `model_path` once and return the output image as uint8 pixels (H, W, 3)."""
    from ai_edge_litert.interpreter import Interpreter

    conventions = read_conventions(model_path)
    if conventions["kind"] == "encoder":
        raise ValueError(f"run_tflite writes images, so it runs decoders and generators, not encoders. Received: --model={model_path}")
    input_spec = conventions["inputs"][0]
    output_spec = conventions["outputs"][0]

    interpreter = Interpreter(model_path=str(model_path))
    runner = interpreter.get_signature_runner(conventions["signature"])
    inputs = to_tensor(make_input(conventions, image_path, seed), input_spec)
    outputs = runner(**{input_spec["name"]: inputs})
    return to_pixels(outputs[output_spec["name"]], output_spec)[0]
