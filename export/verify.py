"""Run exported TFLite files with the LiteRT interpreter and compare them with Keras."""

import dataclasses
import pathlib
import time

import numpy as np

from export import conventions


@dataclasses.dataclass
class VariantResult:
    """Verification of one TFLite file against the float32 Keras part."""

    part: str
    variant: str
    file: str
    size_bytes: int
    max_abs_error: float
    psnr_db: float
    median_latency_ms: float
    threshold: str
    passed: bool
    ops: list

    def to_json(self):
        return dataclasses.asdict(self)


def make_interpreter(model_path_or_content, num_threads=None):
    from ai_edge_litert.interpreter import Interpreter

    if isinstance(model_path_or_content, (bytes, bytearray)):
        interpreter = Interpreter(model_content=bytes(model_path_or_content), num_threads=num_threads)
    else:
        interpreter = Interpreter(model_path=str(model_path_or_content), num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


def _quantize(values, details):
    scale, zero_point = details["quantization"]
    info = np.iinfo(details["dtype"])
    return np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(details["dtype"])


def _dequantize(values, details):
    scale, zero_point = details["quantization"]
    return (values.astype(np.float32) - zero_point) * scale


def is_quantized(details):
    return details["quantization"][0] != 0.0


def invoke(interpreter, inputs):
    """Run a single-input interpreter on one batch-1 array; return outputs by signature name.

    Float inputs of a file with quantized (uint8 + scale) input are quantized
    here, and quantized outputs are dequantized, so callers see the same
    values for every variant. Plain uint8 pixel tensors pass through.
    """
    runner = interpreter.get_signature_runner("serving_default")
    (input_name, input_details), = runner.get_input_details().items()
    if is_quantized(input_details):
        inputs = _quantize(np.asarray(inputs, np.float32), input_details)
    outputs = runner(**{input_name: np.asarray(inputs, input_details["dtype"])})
    output_details = runner.get_output_details()
    return {
        name: _dequantize(value, output_details[name]) if is_quantized(output_details[name]) else value
        for name, value in outputs.items()
    }


def to_float_domain(values):
    """Map uint8 pixels to [-1, 1] and return float values as float32."""
    values = np.asarray(values)
    if values.dtype == np.uint8:
        return conventions.pixels_to_float(values)
    return values.astype(np.float32)


def psnr(reference, actual, data_range):
    """Peak signal-to-noise ratio in dB; infinity for identical arrays."""
    mse = float(np.mean((np.asarray(reference, np.float64) - np.asarray(actual, np.float64)) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def median_latency_ms(interpreter, example, runs, warmup=2):
    """Median wall time of `runs` batch-1 invocations after `warmup` untimed ones."""
    for _ in range(warmup):
        invoke(interpreter, example)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        invoke(interpreter, example)
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times))


def compare(reference_fn, interpreter, examples, kind):
    """Return (max abs error, PSNR dB) over `examples`, both in [-1, 1] units for images.

    `reference_fn` maps a batch-1 input to a dict of outputs with the same
    names and conventions as the TFLite signature. Encoder outputs (latent
    parameters, unbounded) use the reference's peak-to-peak range for PSNR.
    """
    references, actuals = [], []
    for example in examples:
        expected = reference_fn(example)
        actual = invoke(interpreter, example)
        for name in sorted(expected):
            references.append(to_float_domain(expected[name]).ravel())
            actuals.append(to_float_domain(actual[name]).ravel())
    reference = np.concatenate(references)
    actual = np.concatenate(actuals)
    max_abs_error = float(np.max(np.abs(reference - actual)))
    data_range = 2.0 if kind != "encoder" else float(np.ptp(reference)) or 1.0
    return max_abs_error, psnr(reference, actual, data_range)


def threshold_check(variant, max_abs_error, psnr_db, thresholds, uint8_output):
    """Return (description, passed) for a variant's threshold.

    `thresholds` has "float32_max_abs_error" and "min_psnr" (dict by variant).
    With uint8 output, the float32 bound grows by one pixel level because the
    in-graph rounding can flip a value that sits at a rounding boundary.
    """
    if variant == "float32":
        bound = thresholds["float32_max_abs_error"] + (conventions.PIXEL_LEVEL if uint8_output else 0.0)
        return f"max abs <= {bound:.3g}", bool(max_abs_error <= bound)
    minimum = thresholds["min_psnr"][variant]
    return f"PSNR >= {minimum:g} dB", bool(psnr_db >= minimum)


def format_table(results):
    """Return the results as a fixed-width text table (one row per file)."""
    header = ("part", "variant", "size KiB", "max abs err", "PSNR dB", "latency ms", "threshold", "status")
    rows = [header]
    for result in results:
        rows.append(
            (
                result.part,
                result.variant,
                f"{result.size_bytes / 1024:.1f}",
                f"{result.max_abs_error:.2e}",
                f"{result.psnr_db:.1f}",
                f"{result.median_latency_ms:.2f}",
                result.threshold,
                "ok" if result.passed else "FAILED",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def file_size(path):
    return pathlib.Path(path).stat().st_size
