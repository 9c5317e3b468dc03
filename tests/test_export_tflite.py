"""TFLite export of tiny trained models: thresholds, builtin ops only, uint8 I/O, mixed precision, atomicity."""

import json

import numpy as np
import pytest
import keras
import tensorflow as tf

from export import conventions
from export import pipeline
from export import tflite
from export import verify
from tests.test_export_parts import IMAGE_SIZE
from tests.test_export_parts import LATENT_DIM
from tests.test_export_parts import build_trained_generator
from tests.test_export_parts import build_trained_vae
from tests.test_export_parts import smooth_images
from tests.test_export_parts import write_image_folder

FAST = dict(num_calibration_samples=16, num_verification_samples=4, latency_runs=2)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("images"), 20, seed=3)


@pytest.fixture(scope="module")
def vae_path(tmp_path_factory):
    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("vae") / "vae.keras"
    build_trained_vae().save(path)
    return path


@pytest.fixture(scope="module")
def generator_path(tmp_path_factory):
    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("generator") / "generator_a2b.keras"
    build_trained_generator().save(path)
    return path


@pytest.fixture(scope="module")
def vae_export(vae_path, image_folder, tmp_path_factory):
    options = pipeline.ExportOptions(parts=("decoder", "encoder"), representative_data=str(image_folder), **FAST)
    return pipeline.export_model(vae_path, tmp_path_factory.mktemp("vae_export"), options)


@pytest.fixture(scope="module")
def generator_export(generator_path, image_folder, tmp_path_factory):
    options = pipeline.ExportOptions(representative_data=str(image_folder), **FAST)
    return pipeline.export_model(generator_path, tmp_path_factory.mktemp("generator_export"), options)


def _by_variant(result, part):
    return {entry.variant: entry for entry in result.results if entry.part == part}


@pytest.mark.parametrize("part", ["decoder", "encoder"])
def test_vae_variants_meet_thresholds(vae_export, part):
    results = _by_variant(vae_export, part)
    assert set(results) == set(conventions.VARIANTS)
    for variant, entry in results.items():
        assert entry.passed, f"{part} {variant}: max abs {entry.max_abs_error:.3g}, PSNR {entry.psnr_db:.1f} dB"
    assert results["float32"].max_abs_error <= conventions.DEFAULT_FLOAT32_MAX_ABS_ERROR
    assert results["int8"].size_bytes < results["float32"].size_bytes


def test_generator_variants_meet_thresholds(generator_export):
    results = _by_variant(generator_export, "generator")
    assert set(results) == set(conventions.VARIANTS)
    for variant, entry in results.items():
        assert entry.passed, f"{variant}: max abs {entry.max_abs_error:.3g}, PSNR {entry.psnr_db:.1f} dB"
    assert "MIRROR_PAD" in results["float32"].ops


def test_exported_files_contain_only_builtin_ops(vae_export, generator_export):
    for result in (vae_export, generator_export):
        output_dir = result.report_path.parent
        files = sorted(output_dir.glob("*/*.tflite"))
        assert len(files) == len(result.results)
        for path in files:
            ops = tflite.list_ops(path.read_bytes())
            assert not [name for name in ops if name.startswith("Flex")], f"{path.name}: {ops}"
            assert "CUSTOM" not in ops, f"{path.name}: {ops}"


def test_builtin_check_rejects_flex_op(tmp_path):
    # tf.math.bincount has no TFLite builtin, so SELECT_TF_OPS embeds it as a Flex op.
    module = tf.Module()
    module.serve = tf.function(
        lambda values: {"counts": tf.math.bincount(values, minlength=4)},
        input_signature=[tf.TensorSpec((4,), tf.int32, name="values")],
    )
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serve})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    content = converter.convert()
    assert any(name.startswith("Flex") for name in tflite.list_ops(content))
    with pytest.raises(ValueError, match="not TFLite builtins"):
        tflite.check_builtins_only(content, "bincount.tflite")


def test_report_and_sidecar_json(vae_export):
    report = json.loads(vae_export.report_path.read_text())
    assert report["passed"] is True
    assert len(report["results"]) == 8
    sidecar = json.loads((vae_export.report_path.parent / "decoder" / "decoder_int8.json").read_text())
    (latent,) = sidecar["inputs"]
    assert latent["name"] == "latent"
    assert latent["shape"] == [1, LATENT_DIM]
    assert latent["dtype"] == "uint8"
    assert latent["quantization"]["scale"] > 0
    (image,) = sidecar["outputs"]
    assert image["shape"] == [1, IMAGE_SIZE, IMAGE_SIZE, 3]
    assert sidecar["source_file"].endswith("vae.keras")
    saved_model_json = json.loads((vae_export.report_path.parent / "decoder" / "saved_model.json").read_text())
    assert saved_model_json["signatures"]["decode"]["inputs"][0]["shape"] == [None, LATENT_DIM]


def test_saved_model_has_dynamic_batch(vae_export):
    loaded = tf.saved_model.load(str(vae_export.report_path.parent / "decoder" / "saved_model"))
    assert set(loaded.signatures) >= {"decode", "serving_default"}
    latents = tf.random.normal((3, LATENT_DIM), seed=0)
    images = loaded.signatures["decode"](latent=latents)["image"]
    assert images.shape == (3, IMAGE_SIZE, IMAGE_SIZE, 3)


@pytest.mark.large
def test_uint8_io_matches_float_plus_conversion(generator_path, vae_path, tmp_path):
    # dynamic_range is left out: its activations are quantized per call from
    # their observed range, so the two graphs may differ by a few levels.
    variants = ("float32",)
    float_options = pipeline.ExportOptions(quantizations=variants, **FAST)
    uint8_options = pipeline.ExportOptions(quantizations=variants, uint8_io=True, **FAST)
    for model_path, part in ((generator_path, "generator"), (vae_path, "decoder")):
        float_dir = tmp_path / f"{part}_float"
        uint8_dir = tmp_path / f"{part}_uint8"
        assert pipeline.export_model(model_path, float_dir, float_options).passed
        assert pipeline.export_model(model_path, uint8_dir, uint8_options).passed
        if part == "generator":
            pixels = conventions.float_to_pixels(smooth_images(3, seed=7))
            float_inputs = [conventions.pixels_to_float(pixels[i : i + 1]) for i in range(3)]
            uint8_inputs = [pixels[i : i + 1] for i in range(3)]
        else:
            float_inputs = [np.random.default_rng(i).standard_normal((1, LATENT_DIM)).astype(np.float32) for i in range(3)]
            uint8_inputs = float_inputs
        for variant in variants:
            float_interpreter = verify.make_interpreter(float_dir / part / f"{part}_{variant}.tflite")
            uint8_interpreter = verify.make_interpreter(uint8_dir / part / f"{part}_{variant}.tflite")
            for float_input, uint8_input in zip(float_inputs, uint8_inputs):
                expected = conventions.float_to_pixels(verify.invoke(float_interpreter, float_input)["image"])
                actual = verify.invoke(uint8_interpreter, uint8_input)["image"]
                assert actual.dtype == np.uint8
                level_difference = np.abs(actual.astype(int) - expected.astype(int)).max()
                assert level_difference <= 1, f"{part} {variant}: {level_difference} levels"


@pytest.mark.large
def test_uint8_io_int8_generator_meets_threshold(generator_path, image_folder, tmp_path):
    options = pipeline.ExportOptions(quantizations=("int8",), representative_data=str(image_folder), uint8_io=True, **FAST)
    result = pipeline.export_model(generator_path, tmp_path, options)
    (entry,) = result.results
    assert entry.passed, f"PSNR {entry.psnr_db:.1f} dB"
    sidecar = json.loads((tmp_path / "generator" / "generator_int8.json").read_text())
    assert sidecar["inputs"][0]["dtype"] == "uint8"
    assert "quantization" not in sidecar["inputs"][0]


@pytest.mark.large
def test_mixed_bfloat16_vae_exports_as_float32(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        vae = build_trained_vae(steps=2)
        vae.save(tmp_path / "mixed.keras")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    options = pipeline.ExportOptions(quantizations=("float32", "float16", "int8"), **FAST)
    result = pipeline.export_model(tmp_path / "mixed.keras", tmp_path / "out", options)
    for entry in result.results:
        assert entry.passed, f"{entry.variant}: max abs {entry.max_abs_error:.3g}, PSNR {entry.psnr_db:.1f} dB"
    interpreter = verify.make_interpreter(tmp_path / "out" / "decoder" / "decoder_float32.tflite")
    details = interpreter.get_signature_runner("serving_default").get_output_details()["image"]
    assert details["dtype"] == np.float32
    assert keras.mixed_precision.global_policy().name == "float32"


@pytest.mark.large
def test_cyclegan_exports_both_generators(tmp_path):
    from keras_cartoon.models.cyclegan import CycleGAN

    model = CycleGAN(image_size=IMAGE_SIZE, generator_filters=8, discriminator_filters=8, num_residual_blocks=1)
    model(smooth_images(1))
    model.save(tmp_path / "cyclegan.keras")
    options = pipeline.ExportOptions(quantizations=("float32",), **FAST)
    result = pipeline.export_model(tmp_path / "cyclegan.keras", tmp_path / "out", options)
    assert [entry.part for entry in result.results] == ["generator_a2b", "generator_b2a"]
    assert all(entry.passed for entry in result.results)
    assert (tmp_path / "out" / "generator_b2a" / "saved_model" / "saved_model.pb").is_file()


def test_int8_generator_without_data_names_flag(generator_path, tmp_path):
    with pytest.raises(ValueError, match="--representative_data"):
        pipeline.export_model(generator_path, tmp_path, pipeline.ExportOptions(quantizations=("int8",)))
    assert list(tmp_path.iterdir()) == []


def test_failed_export_keeps_previous_export(vae_path, tmp_path, monkeypatch):
    options = pipeline.ExportOptions(quantizations=("float32",), **FAST)
    pipeline.export_model(vae_path, tmp_path, options)
    previous = (tmp_path / "decoder" / "decoder_float32.tflite").read_bytes()
    previous_report = (tmp_path / "report.json").read_text()

    real_convert = tflite.convert

    def convert_then_fail(saved_model_dir, variant, *args, **kwargs):
        if variant == "float16":
            raise RuntimeError("simulated converter crash")
        return real_convert(saved_model_dir, variant, *args, **kwargs)

    monkeypatch.setattr(tflite, "convert", convert_then_fail)
    with pytest.raises(RuntimeError, match="simulated converter crash"):
        pipeline.export_model(vae_path, tmp_path, pipeline.ExportOptions(quantizations=("float32", "float16"), **FAST))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["decoder", "report.json"]
    assert (tmp_path / "decoder" / "decoder_float32.tflite").read_bytes() == previous
    assert not (tmp_path / "decoder" / "decoder_float16.tflite").exists()
    assert (tmp_path / "report.json").read_text() == previous_report


@pytest.mark.parametrize("subpixel_decoder", [True, False])
def test_decoder_subpixel_option_sets_ops(vae_path, tmp_path, subpixel_decoder):
    options = pipeline.ExportOptions(quantizations=("float32",), subpixel_decoder=subpixel_decoder, **FAST)

    result = pipeline.export_model(vae_path, tmp_path, options)

    (decoder_result,) = result.results
    assert decoder_result.passed
    assert ("TRANSPOSE_CONV" in decoder_result.ops) is not subpixel_decoder
    assert ("DEPTH_TO_SPACE" in decoder_result.ops) is subpixel_decoder
