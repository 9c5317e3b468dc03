"""Export a keras_cartoon `.keras` file to SavedModel and TFLite, then verify every file.

Usage:
    python -m export --model=vae.keras --output_dir=exported
    python -m export --model=cyclegan.keras --output_dir=exported \
        --representative_data=data/cartoon --uint8_io

Exit status: 0 when every TFLite file meets its threshold, 1 when one misses
it (the files and report.json are still written), 2 for invalid flags or a
failed export (nothing is written).
"""

import os
import pathlib
import sys

from absl import app
from absl import flags
from absl import logging

from export import conventions

FLAGS = flags.FLAGS

flags.DEFINE_string("model", None, "Path of the `.keras` file: a CartoonVAE, a CycleGAN or a lone generator.")
flags.DEFINE_string("output_dir", None, "Folder for the exported files and report.json; created if missing.")
flags.DEFINE_list(
    "parts", [], "Parts to export, comma-separated: decoder, encoder (VAE); generator_a2b, generator_b2a "
    "(CycleGAN); generator (lone generator). Empty: decoder for a VAE, every generator otherwise."
)
flags.DEFINE_list("quantization", list(conventions.VARIANTS), "TFLite variants, comma-separated: " + ",".join(conventions.VARIANTS) + ".")
flags.DEFINE_string(
    "representative_data", None, "Folder of images for int8 calibration and verification of generators "
    "and encoders. Required for int8 of those parts; the decoder calibrates on N(0, I) draws."
)
flags.DEFINE_float(
    "center_crop_fraction", None, "Centre crop of each representative image (fraction of the shorter side) "
    "before resizing; use the value the model was trained with (Cartoon Set: 0.7)."
)
flags.DEFINE_bool("uint8_io", False, "Put pixel conversion in the graph: uint8 RGB pixels in and out (the decoder keeps its float latent input).")
flags.DEFINE_float("float32_max_abs_error", conventions.DEFAULT_FLOAT32_MAX_ABS_ERROR, "Largest max abs error of float32 files, in [-1, 1] units.")
flags.DEFINE_float("min_psnr_float16", conventions.DEFAULT_MIN_PSNR["float16"], "Lowest PSNR of float16 files, in dB.")
flags.DEFINE_float("min_psnr_dynamic_range", conventions.DEFAULT_MIN_PSNR["dynamic_range"], "Lowest PSNR of dynamic range files, in dB.")
flags.DEFINE_float("min_psnr_int8", conventions.DEFAULT_MIN_PSNR["int8"], "Lowest PSNR of int8 files, in dB.")
flags.DEFINE_integer("num_calibration_samples", 100, "Inputs used to calibrate int8 files.")
flags.DEFINE_integer("num_verification_samples", 8, "Inputs each file is compared with Keras on.")
flags.DEFINE_integer("latency_runs", 10, "Timed batch-1 invocations per file; the report gives the median.")
flags.DEFINE_integer("seed", 0, "Seed of the latent draws and synthetic images.")
flags.DEFINE_bool(
    "subpixel_decoder",
    True,
    "Convert the decoder's 4x4 stride-2 transposed convolutions to sub-pixel convolutions in the TFLite "
    "files: the same outputs, about 3x faster on CPU. The SavedModel keeps the original layers.",
)
flags.DEFINE_bool("unsafe_load", False, "Load `.keras` files that contain Python code (Lambda layers). Only for files you trust.")


def validate_flags():
    """Raise ValueError for invalid flags, before anything is loaded."""
    if not FLAGS.model:
        raise ValueError("--model is required: the path of a `.keras` file.")
    if not FLAGS.output_dir:
        raise ValueError("--output_dir is required: the folder for the exported files.")
    model_path = pathlib.Path(FLAGS.model)
    if not model_path.is_file():
        raise ValueError(f"--model file not found. Check the path. Received: --model={FLAGS.model}")
    from export import pipeline

    pipeline.check_quantizations(FLAGS.quantization)
    if FLAGS.representative_data and not os.path.isdir(FLAGS.representative_data):
        raise ValueError(
            f"--representative_data must be a folder of images. Received: --representative_data={FLAGS.representative_data}"
        )
    if FLAGS.center_crop_fraction is not None and not 0.0 < FLAGS.center_crop_fraction <= 1.0:
        raise ValueError(
            f"--center_crop_fraction must be in (0, 1]. Received: --center_crop_fraction={FLAGS.center_crop_fraction}"
        )
    for name in ("num_calibration_samples", "num_verification_samples", "latency_runs"):
        if getattr(FLAGS, name) < 1:
            raise ValueError(f"--{name} must be at least 1. Received: --{name}={getattr(FLAGS, name)}")
    pipeline.check_output_dir(FLAGS.output_dir)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected positional arguments: {' '.join(argv[1:])}")
    try:
        validate_flags()
        from export import pipeline
        from export import verify

        options = pipeline.ExportOptions(
            parts=tuple(FLAGS.parts),
            quantizations=tuple(FLAGS.quantization),
            representative_data=FLAGS.representative_data,
            center_crop_fraction=FLAGS.center_crop_fraction,
            uint8_io=FLAGS.uint8_io,
            float32_max_abs_error=FLAGS.float32_max_abs_error,
            min_psnr={
                "float16": FLAGS.min_psnr_float16,
                "dynamic_range": FLAGS.min_psnr_dynamic_range,
                "int8": FLAGS.min_psnr_int8,
            },
            num_calibration_samples=FLAGS.num_calibration_samples,
            num_verification_samples=FLAGS.num_verification_samples,
            latency_runs=FLAGS.latency_runs,
            seed=FLAGS.seed,
            unsafe_load=FLAGS.unsafe_load,
            subpixel_decoder=FLAGS.subpixel_decoder,
        )
        result = pipeline.export_model(FLAGS.model, FLAGS.output_dir, options)
    except (ValueError, FileNotFoundError) as error:
        logging.error("Export failed, nothing was written: %s", error)
        return 2

    # The table is this command's output, so it goes to stdout as well as the log.
    sys.stdout.write(verify.format_table(result.results) + "\n")
    if not result.passed:
        failed = [f"{r.part}/{r.variant}" for r in result.results if not r.passed]
        logging.error("Files below their threshold: %s. See %s.", ", ".join(failed), result.report_path)
        return 1
    logging.info("All files meet their thresholds. Report: %s", result.report_path)
    return 0


def run():
    app.run(main)


if __name__ == "__main__":
    run()
