"""Verification arithmetic: PSNR, thresholds, pixel conversions, the report table."""

import math

import numpy as np

from export import conventions
from export import verify


def test_pixel_conversion_roundtrip_is_exact():
    pixels = np.arange(256, dtype=np.uint8)
    floats = conventions.pixels_to_float(pixels)
    assert floats.min() == -1.0
    assert floats.max() == 1.0
    np.testing.assert_array_equal(conventions.float_to_pixels(floats), pixels)


def test_float_to_pixels_clips_out_of_range():
    pixels = conventions.float_to_pixels(np.array([-1.5, 1.5], np.float32))
    np.testing.assert_array_equal(pixels, [0, 255])


def test_psnr_of_known_error():
    reference = np.zeros(100, np.float32)
    # MSE 0.01 with a peak-to-peak range of 2: 10 log10(4 / 0.01) = 26.02 dB.
    assert math.isclose(verify.psnr(reference, reference + 0.1, data_range=2.0), 26.0206, abs_tol=1e-3)
    assert verify.psnr(reference, reference, data_range=2.0) == math.inf


def test_threshold_check_allows_one_level_for_uint8():
    thresholds = {"float32_max_abs_error": 1e-4, "min_psnr": dict(conventions.DEFAULT_MIN_PSNR)}
    one_level = conventions.PIXEL_LEVEL
    assert verify.threshold_check("float32", one_level, 60.0, thresholds, uint8_output=True)[1]
    assert not verify.threshold_check("float32", one_level, 60.0, thresholds, uint8_output=False)[1]
    assert not verify.threshold_check("float32", 2 * one_level, 60.0, thresholds, uint8_output=True)[1]
    assert verify.threshold_check("int8", 0.5, 25.0, thresholds, uint8_output=False)[1]
    assert not verify.threshold_check("int8", 0.5, 24.9, thresholds, uint8_output=False)[1]


def test_format_table_marks_failures():
    result = verify.VariantResult(
        part="decoder", variant="int8", file="decoder/decoder_int8.tflite", size_bytes=2048,
        max_abs_error=0.5, psnr_db=20.0, median_latency_ms=1.5, threshold="PSNR >= 25 dB", passed=False, ops=[],
    )
    lines = verify.format_table([result]).splitlines()
    assert lines[0].split() == ["part", "variant", "size", "KiB", "max", "abs", "err", "PSNR", "dB", "latency", "ms", "threshold", "status"]
    assert lines[2].split()[:4] == ["decoder", "int8", "2.0", "5.00e-01"]
    assert lines[2].endswith("FAILED")
