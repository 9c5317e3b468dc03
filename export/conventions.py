"""Input/output conventions of exported files and the JSON that documents them.

Every exported file takes one input tensor and returns one image tensor
(the encoder returns `z_mean` and `z_log_var`):

- float (default): images are float32 RGB in [-1, 1], channels last, and the
  decoder takes a float32 latent vector drawn from N(0, I).
- `uint8_io`: the graph itself converts pixels, so generators take and return
  uint8 RGB pixels in [0, 255], the encoder takes uint8 pixels, and the
  decoder takes the float latent and returns uint8 pixels.

The int8 variant additionally stores float tensors at its boundary as uint8
with a scale and zero point (`real = scale * (q - zero_point)`), which the
sidecar JSON records per tensor.
"""

import dataclasses
import datetime
import json

import numpy as np

from keras_cartoon import io_utils

VARIANTS = ("float32", "float16", "dynamic_range", "int8")

# Verification thresholds. The float32 one is a max abs error in [-1, 1]
# units. The others are PSNR in dB with a peak-to-peak range of 2.
DEFAULT_FLOAT32_MAX_ABS_ERROR = 1e-4
DEFAULT_MIN_PSNR = {"float16": 40.0, "dynamic_range": 30.0, "int8": 25.0}

# One uint8 level in [-1, 1] units.
PIXEL_LEVEL = 2.0 / 255.0

PIXELS_TO_FLOAT_FORMULA = "x = pixels / 127.5 - 1"
FLOAT_TO_PIXELS_FORMULA = "pixels = round_half_to_even(clip((y + 1) * 127.5, 0, 255))"

# Input and output tensor names of the signatures, per part kind.
INPUT_NAMES = {"decoder": "latent", "encoder": "image", "generator": "image"}
OUTPUT_NAMES = {"decoder": ("image",), "encoder": ("z_mean", "z_log_var"), "generator": ("image",)}


def pixels_to_float(pixels):
    """Map uint8 RGB pixels to float32 in [-1, 1] (the in-graph formula, in NumPy)."""
    return np.asarray(pixels, np.float32) / 127.5 - 1.0


def float_to_pixels(images):
    """Map float images in [-1, 1] to uint8 pixels (the in-graph formula, in NumPy).

    `np.rint` rounds half to even, like `tf.round` in the graph.
    """
    scaled = np.clip((np.asarray(images, np.float32) + 1.0) * 127.5, 0.0, 255.0)
    return np.rint(scaled).astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class TensorConvention:
    """One input or output tensor of an exported signature."""

    name: str
    shape: tuple
    dtype: str
    value_range: tuple
    meaning: str
    # (scale, zero_point) when the int8 variant stores a float tensor as uint8.
    quantization: tuple | None = None

    def to_json(self):
        entry = {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "value_range": list(self.value_range),
            "meaning": self.meaning,
        }
        if self.quantization is not None:
            scale, zero_point = self.quantization
            entry["quantization"] = {
                "scale": float(scale),
                "zero_point": int(zero_point),
                "formula": "real = scale * (q - zero_point)",
            }
        return entry


def input_convention(kind, shape, uint8_io):
    """Describe the input tensor of a part of kind `kind` ("decoder", "encoder", "generator")."""
    name = INPUT_NAMES[kind]
    if kind == "decoder":
        return TensorConvention(name, shape, "float32", (-np.inf, np.inf), "latent vector, draw from N(0, I)")
    if uint8_io:
        return TensorConvention(name, shape, "uint8", (0, 255), "RGB pixels, channels last")
    return TensorConvention(name, shape, "float32", (-1.0, 1.0), "RGB image, channels last")


def output_conventions(kind, shapes, uint8_io):
    """Describe the output tensors of a part, in signature order."""
    names = OUTPUT_NAMES[kind]
    if kind == "encoder":
        return [
            TensorConvention(name, shape, "float32", (-np.inf, np.inf), "posterior parameter")
            for name, shape in zip(names, shapes)
        ]
    if uint8_io:
        return [TensorConvention(names[0], shapes[0], "uint8", (0, 255), "RGB pixels, channels last")]
    return [TensorConvention(names[0], shapes[0], "float32", (-1.0, 1.0), "RGB image, channels last, tanh")]


def conventions_document(part_name, kind, variant, inputs, outputs, uint8_io, source_file, signature):
    """Build the sidecar JSON dict written beside every exported file."""
    from keras_cartoon import __version__

    conversions = {"float_image_from_pixels": PIXELS_TO_FLOAT_FORMULA, "pixels_from_float_image": FLOAT_TO_PIXELS_FORMULA}
    return {
        "part": part_name,
        "kind": kind,
        "variant": variant,
        "signature": signature,
        "uint8_io": bool(uint8_io),
        "inputs": [tensor.to_json() for tensor in inputs],
        "outputs": [tensor.to_json() for tensor in outputs],
        "layout": "NHWC, RGB, batch 1" if variant != "saved_model" else "NHWC, RGB, any batch",
        "conversion": conversions,
        "in_graph_conversion": _in_graph_conversion(kind, uint8_io),
        "model_version": __version__,
        "source_file": str(source_file),
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _in_graph_conversion(kind, uint8_io):
    if not uint8_io:
        return []
    steps = []
    if kind in ("generator", "encoder"):
        steps.append(f"input: {PIXELS_TO_FLOAT_FORMULA}")
    if kind in ("generator", "decoder"):
        steps.append(f"output: {FLOAT_TO_PIXELS_FORMULA}")
    return steps


def write_json(path, document):
    """Write `document` as indented JSON through a temporary file (atomic)."""
    io_utils.write_text_atomic(path, json.dumps(_jsonable(document), indent=2) + "\n")


def read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _jsonable(value):
    """Replace infinities (not valid JSON) by the strings "-inf"/"inf"."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, float) and np.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value
