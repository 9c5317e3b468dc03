"""Export every requested part and variant into a staging folder, verify, then move into place.

Output layout, for each part (`decoder`, `encoder`, `generator_a2b`, ...):

    OUTPUT_DIR/report.json
    OUTPUT_DIR/PART/saved_model/            dynamic batch, named signatures
    OUTPUT_DIR/PART/saved_model.json        conventions of the SavedModel
    OUTPUT_DIR/PART/PART_VARIANT.tflite     batch 1, static shapes, builtin ops
    OUTPUT_DIR/PART/PART_VARIANT.json       conventions of that file
"""

import contextlib
import dataclasses
import os
import pathlib
import shutil
import tempfile

import numpy as np
import tensorflow as tf
from absl import logging

from export import conventions
from export import parts as parts_lib
from export import subpixel
from export import savedmodel
from export import tflite
from export import verify
from keras_cartoon import io_utils


@dataclasses.dataclass
class ExportOptions:
    """Everything an export run needs besides the model file and output folder."""

    parts: tuple = ()
    quantizations: tuple = conventions.VARIANTS
    representative_data: str | None = None
    # Centre crop applied to representative images before resizing, as in training.
    center_crop_fraction: float | None = None
    uint8_io: bool = False
    float32_max_abs_error: float = conventions.DEFAULT_FLOAT32_MAX_ABS_ERROR
    min_psnr: dict = dataclasses.field(default_factory=lambda: dict(conventions.DEFAULT_MIN_PSNR))
    # Calibration inputs for int8; the TFLite guide suggests about 100 to 500.
    num_calibration_samples: int = 100
    num_verification_samples: int = 8
    latency_runs: int = 10
    seed: int = 0
    unsafe_load: bool = False
    # Rewrite the decoder's transposed convolutions as sub-pixel convolutions
    # in the TFLite files (same outputs, about 3x faster; see export/subpixel.py).
    subpixel_decoder: bool = True


@dataclasses.dataclass
class ExportResult:
    results: list
    report_path: pathlib.Path

    @property
    def passed(self):
        return all(result.passed for result in self.results)


def check_quantizations(quantizations):
    unknown = [name for name in quantizations if name not in conventions.VARIANTS]
    if unknown or not quantizations:
        raise ValueError(
            f"Unknown quantization {', '.join(unknown) or '(none given)'}. Choose one or more of "
            f"{','.join(conventions.VARIANTS)}. Received: quantization={','.join(quantizations)}"
        )


def check_output_dir(output_dir):
    """Raise ValueError when `output_dir` cannot be created or written.

    Folders created for the check are removed again, so a run that fails
    later leaves no empty output folder behind.
    """
    output_dir = pathlib.Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"The output path exists and is not a folder. Received: output_dir={str(output_dir)!r}")
    first_missing = None
    for folder in [output_dir, *output_dir.parents]:
        if folder.exists():
            break
        first_missing = folder
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=output_dir):
            pass
        if first_missing is not None:
            shutil.rmtree(first_missing)
    except OSError as error:
        raise ValueError(
            f"The output folder cannot be written ({error.strerror or error}). Choose another "
            f"--output_dir or fix its permissions. Received: output_dir={str(output_dir)!r}"
        ) from error


def check_calibration_source(parts, options):
    """Raise ValueError when int8 is requested for an image input without a data folder."""
    if "int8" not in options.quantizations or options.representative_data:
        return
    needs_images = [part.name for part in parts if part.kind != "decoder"]
    if needs_images:
        raise ValueError(
            f"The int8 variant of {', '.join(needs_images)} is calibrated on real images. Pass "
            "--representative_data=DIR (a folder of images from the training domain) or drop int8 "
            "from --quantization. Received: representative_data=None"
        )


def export_model(model_path, output_dir, options=None):
    """Export the parts of a `.keras` file and verify every TFLite file.

    The whole export is written to a staging folder inside `output_dir` and
    each part's folder and `report.json` are moved into place only when every
    file was written and verified, so a crash never leaves a half-written
    export. Files that miss their threshold are still moved in, and
    `ExportResult.passed` is False.

    Raises:
        ValueError: invalid options, unknown parts, or int8 for a generator
            without `representative_data`.
    """
    options = options or ExportOptions()
    check_quantizations(options.quantizations)
    output_dir = pathlib.Path(output_dir)
    created_output_dir = not output_dir.exists()
    check_output_dir(output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        return _export_into(model_path, output_dir, options)
    except BaseException:
        # A folder this call created and left empty would read as an export.
        if created_output_dir and output_dir.is_dir() and not any(output_dir.iterdir()):
            output_dir.rmdir()
        raise


def _export_into(model_path, output_dir, options):
    model = io_utils.load_model_safely(model_path, safe_mode=not options.unsafe_load)
    parts = parts_lib.resolve_parts(model, options.parts or None)
    check_calibration_source(parts, options)
    logging.info(
        "Exporting %s from %s: variants %s, uint8_io=%s",
        ", ".join(part.name for part in parts), model_path, ",".join(options.quantizations), options.uint8_io,
    )

    staging = pathlib.Path(tempfile.mkdtemp(prefix=".export-staging-", dir=output_dir))
    try:
        results = []
        for part in parts:
            results.extend(_export_part(part, staging / part.name, model_path, options))
        report = _report_document(model_path, options, results)
        conventions.write_json(staging / "report.json", report)
        _move_into_place(staging, output_dir, [part.name for part in parts] + ["report.json"])
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    logging.info("Verification of %s:\n%s", model_path, verify.format_table(results))
    return ExportResult(results=results, report_path=output_dir / "report.json")


def _export_part(part, part_dir, model_path, options):
    part_dir.mkdir(parents=True)
    saved_model_dir = part_dir / "saved_model"
    signatures = savedmodel.export_saved_model(part, saved_model_dir, uint8_io=options.uint8_io)
    _write_saved_model_json(part, part_dir / "saved_model.json", signatures, model_path, options.uint8_io)

    with tempfile.TemporaryDirectory(dir=part_dir.parent) as scratch:
        source_dir = pathlib.Path(scratch) / "batch1"
        savedmodel.export_tflite_source(_tflite_part(part, options), source_dir, uint8_io=options.uint8_io)
        calibration, examples = _make_inputs(part, options)
        results = []
        for variant in options.quantizations:
            logging.info("Converting %s to TFLite (%s)", part.name, variant)
            content = tflite.convert(
                source_dir,
                variant,
                calibration if variant == "int8" else None,
                # With uint8_io the boundary tensors are already uint8 pixels
                # (or the float latent), so the int8 file keeps that interface.
                integer_io=not options.uint8_io,
                float_scope=parts_lib.TO_PIXELS_SCOPE if options.uint8_io else None,
            )
            label = f"{part.name}_{variant}.tflite"
            ops = tflite.check_builtins_only(content, label)
            path = part_dir / label
            path.write_bytes(content)
            results.append(_verify_file(part, variant, path, ops, examples, model_path, options))
    return results


def _tflite_part(part, options):
    """Return the part to convert to TFLite: the sub-pixel decoder when it applies.

    Verification always compares with the original `part.model`, so a wrong
    rewrite shows up as a failed threshold.
    """
    if part.kind != "decoder" or not options.subpixel_decoder:
        return part
    try:
        model = subpixel.subpixel_decoder(part.model)
    except ValueError as error:
        logging.info("Keeping the decoder's transposed convolutions in TFLite: %s", error)
        return part
    logging.info("Converting the decoder with sub-pixel convolutions in place of transposed ones.")
    return dataclasses.replace(part, model=model)


def _verify_file(part, variant, path, ops, examples, model_path, options):
    interpreter = verify.make_interpreter(path)
    _write_tflite_json(part, variant, path, interpreter, model_path, options.uint8_io)

    serve = tf.function(parts_lib.serving_function(part, options.uint8_io))

    def reference_fn(example):
        return {name: value.numpy() for name, value in serve(tf.constant(example)).items()}

    max_abs_error, psnr_db = verify.compare(reference_fn, interpreter, examples, part.kind)
    latency = verify.median_latency_ms(interpreter, examples[0], options.latency_runs)
    uint8_output = options.uint8_io and part.kind != "encoder"
    thresholds = {"float32_max_abs_error": options.float32_max_abs_error, "min_psnr": options.min_psnr}
    description, passed = verify.threshold_check(variant, max_abs_error, psnr_db, thresholds, uint8_output)
    if not passed:
        logging.error("%s misses its threshold (%s): max abs %.3g, PSNR %.1f dB", path.name, description, max_abs_error, psnr_db)
    return verify.VariantResult(
        part=part.name, variant=variant, file=f"{part.name}/{path.name}", size_bytes=verify.file_size(path),
        max_abs_error=max_abs_error, psnr_db=psnr_db, median_latency_ms=latency,
        threshold=description, passed=passed, ops=ops,
    )


def _make_inputs(part, options):
    """Return (int8 calibration dataset or None, list of batch-1 verification inputs)."""
    rng = np.random.default_rng(options.seed + 1)
    input_name = conventions.INPUT_NAMES[part.kind]
    if part.kind == "decoder":
        latent_dim = part.input_shape[0]
        calibration = tflite.latent_calibration(input_name, latent_dim, options.num_calibration_samples, options.seed)
        examples = [rng.standard_normal((1, latent_dim)).astype(np.float32) for _ in range(options.num_verification_samples)]
        return calibration, examples

    image_size = part.input_shape[0]
    if options.representative_data:
        images = load_representative_images(
            options.representative_data,
            image_size,
            options.num_calibration_samples + options.num_verification_samples,
            options.center_crop_fraction,
        )
        calibration = tflite.image_calibration(input_name, images[: options.num_calibration_samples], options.uint8_io)
        # Verify on images the calibration did not see, when there are enough.
        held_out = images[options.num_calibration_samples :]
        verification_images = held_out if len(held_out) else images[: options.num_verification_samples]
    else:
        calibration = None
        verification_images = synthetic_images(options.num_verification_samples, image_size, rng)
    examples = [image[np.newaxis] for image in verification_images[: options.num_verification_samples]]
    if options.uint8_io:
        examples = [conventions.float_to_pixels(example) for example in examples]
    return calibration, examples


def load_representative_images(directory, image_size, limit, center_crop_fraction=None):
    """Load up to `limit` images of a folder (sorted, bad files skipped) as float32 in [-1, 1]."""
    from keras_cartoon import data

    try:
        scan = data.scan_image_folder(directory)
    except ValueError as error:
        raise ValueError(f"--representative_data has no usable images: {error}") from error
    return data.load_images(scan.paths[:limit], image_size, center_crop_fraction)


def synthetic_images(num_images, image_size, rng):
    """Smooth random RGB images in [-1, 1]: bilinear-upsampled 4x4 noise plus fine noise.

    Flat colour regions are closer to cartoon images than white noise is.
    """
    coarse = rng.uniform(-1.0, 1.0, (num_images, 4, 4, 3)).astype(np.float32)
    images = tf.image.resize(coarse, (image_size, image_size), method="bilinear").numpy()
    images += rng.normal(0.0, 0.05, images.shape).astype(np.float32)
    return np.clip(images, -1.0, 1.0)


def _tensor_conventions(details_by_name, kind, uint8_io, is_input):
    base = {}
    if is_input:
        (name, details), = details_by_name.items()
        base[name] = conventions.input_convention(kind, tuple(details["shape"]), uint8_io)
    else:
        shapes = [tuple(details_by_name[name]["shape"]) for name in conventions.OUTPUT_NAMES[kind]]
        for tensor in conventions.output_conventions(kind, shapes, uint8_io):
            base[tensor.name] = tensor
    entries = []
    for name, tensor in base.items():
        details = details_by_name[name]
        quantization = details["quantization"] if verify.is_quantized(details) else None
        entries.append(dataclasses.replace(tensor, dtype=np.dtype(details["dtype"]).name, quantization=quantization))
    return entries


def _write_tflite_json(part, variant, path, interpreter, model_path, uint8_io):
    runner = interpreter.get_signature_runner("serving_default")
    inputs = _tensor_conventions(runner.get_input_details(), part.kind, uint8_io, is_input=True)
    outputs = _tensor_conventions(runner.get_output_details(), part.kind, uint8_io, is_input=False)
    document = conventions.conventions_document(
        part.name, part.kind, variant, inputs, outputs, uint8_io, model_path, signature="serving_default"
    )
    document["file"] = path.name
    conventions.write_json(path.with_suffix(".json"), document)


def _write_saved_model_json(part, path, signatures, model_path, uint8_io):
    shape = (None, *part.input_shape)
    output_shapes = [(None, *tuple(output.shape[1:])) for output in part.model.outputs]
    document = {"signatures": {}}
    for signature, use_uint8 in zip(signatures, [False, True]):
        inputs = [conventions.input_convention(part.kind, shape, use_uint8)]
        outputs = conventions.output_conventions(part.kind, output_shapes, use_uint8)
        document["signatures"][signature] = conventions.conventions_document(
            part.name, part.kind, "saved_model", inputs, outputs, use_uint8, model_path, signature=signature
        )
    document["serving_default"] = signatures[0]
    conventions.write_json(path, document)


def _report_document(model_path, options, results):
    return {
        "source_file": str(model_path),
        "uint8_io": options.uint8_io,
        "thresholds": {"float32_max_abs_error": options.float32_max_abs_error, "min_psnr_db": options.min_psnr},
        "passed": all(result.passed for result in results),
        "results": [result.to_json() for result in results],
    }


def _move_into_place(staging, output_dir, names):
    """Move each staged entry over its destination, keeping the old one until the move succeeded."""
    for name in names:
        source = staging / name
        destination = output_dir / name
        if source.is_file():
            os.replace(source, destination)
            continue
        backup = None
        if destination.exists():
            backup = staging / f".previous-{name}"
            os.replace(destination, backup)
        try:
            os.replace(source, destination)
        except OSError:
            if backup is not None:
                with contextlib.suppress(OSError):
                    os.replace(backup, destination)
            raise
