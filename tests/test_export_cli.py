"""`python -m export` flag errors and exit codes, and the `export.run_tflite` runner."""

import json
import logging
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import keras
from absl import flags
from absl.testing import flagsaver
from PIL import Image

from export import __main__ as export_main
from export import conventions
from export import app_runner
from tests.test_export_parts import LATENT_DIM
from tests.test_export_parts import build_trained_generator
from tests.test_export_parts import build_trained_vae
from tests.test_export_parts import write_image_folder

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
FAST_FLAGS = dict(num_calibration_samples=8, num_verification_samples=2, latency_runs=1)


@pytest.fixture(scope="module", autouse=True)
def parsed_flags():
    if not flags.FLAGS.is_parsed():
        flags.FLAGS(["export"])


@pytest.fixture(scope="module")
def vae_path(tmp_path_factory):
    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("cli_vae") / "vae.keras"
    build_trained_vae(steps=2).save(path)
    return path


@pytest.fixture(scope="module")
def generator_export(tmp_path_factory):
    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("cli_generator")
    build_trained_generator(steps=2).save(root / "generator.keras")
    images = write_image_folder(root / "images", 12, seed=5)
    with flagsaver.flagsaver(
        model=str(root / "generator.keras"), output_dir=str(root / "out"), quantization=["float32", "int8"],
        representative_data=str(images), **FAST_FLAGS,
    ):
        assert export_main.main(["export"]) == 0
    return root


def _run_main(caplog, **flag_values):
    with flagsaver.flagsaver(**flag_values), caplog.at_level(logging.ERROR):
        return export_main.main(["export"])


def test_cli_exports_and_returns_zero(vae_path, tmp_path, capsys):
    with flagsaver.flagsaver(model=str(vae_path), output_dir=str(tmp_path), quantization=["float32"], **FAST_FLAGS):
        assert export_main.main(["export"]) == 0
    assert "decoder  float32" in capsys.readouterr().out
    assert json.loads((tmp_path / "report.json").read_text())["passed"] is True


def test_cli_missed_threshold_returns_one(vae_path, tmp_path, caplog):
    status = _run_main(
        caplog, model=str(vae_path), output_dir=str(tmp_path), quantization=["float16"], min_psnr_float16=500.0, **FAST_FLAGS
    )
    assert status == 1
    assert "decoder/float16" in caplog.text
    assert json.loads((tmp_path / "report.json").read_text())["passed"] is False


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"quantization": ["int4"]}, "Unknown quantization int4"),
        ({"model": "missing.keras"}, "--model file not found"),
        ({"parts": ["generator_a2b"]}, "Unknown part for a vae model: generator_a2b"),
        ({"representative_data": "no_such_folder"}, "--representative_data must be a folder"),
        ({"latency_runs": 0}, "--latency_runs must be at least 1"),
    ],
)
def test_cli_bad_flag_errors(vae_path, tmp_path, caplog, overrides, message):
    flag_values = dict(model=str(vae_path), output_dir=str(tmp_path / "out"), quantization=["float32"])
    flag_values.update(overrides)
    assert _run_main(caplog, **flag_values) == 2
    assert message in caplog.text
    assert not (tmp_path / "out" / "decoder").exists()


def test_cli_unwritable_output_dir(vae_path, tmp_path, caplog):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert _run_main(caplog, model=str(vae_path), output_dir=str(blocker / "out"), quantization=["float32"]) == 2
    assert "The output folder cannot be written" in caplog.text


def test_cli_int8_generator_needs_representative_data(generator_export, tmp_path, caplog):
    status = _run_main(
        caplog, model=str(generator_export / "generator.keras"), output_dir=str(tmp_path), quantization=["int8"]
    )
    assert status == 2
    assert "Pass --representative_data=DIR" in caplog.text


@pytest.mark.parametrize("variant", ["float32", "int8"])
def test_run_file_generator_matches_interpreter(generator_export, variant):
    model_path = generator_export / "out" / "generator" / f"generator_{variant}.tflite"
    image_path = generator_export / "images" / "image_000.png"
    pixels = app_runner.run_file(model_path, image_path=image_path)
    assert pixels.shape == (32, 32, 3)
    assert pixels.dtype == np.uint8

    from export import verify
    from keras_cartoon.data import decode_image_file

    image = decode_image_file(image_path, 32)[np.newaxis]
    expected = conventions.float_to_pixels(verify.invoke(verify.make_interpreter(model_path), image)["image"])[0]
    assert np.abs(pixels.astype(int) - expected.astype(int)).max() <= 1


def test_run_file_decoder_requires_seed(vae_path, tmp_path):
    with flagsaver.flagsaver(model=str(vae_path), output_dir=str(tmp_path), quantization=["float32"], **FAST_FLAGS):
        assert export_main.main(["export"]) == 0
    model_path = tmp_path / "decoder" / "decoder_float32.tflite"
    with pytest.raises(ValueError, match="needs --seed"):
        app_runner.run_file(model_path)
    first = app_runner.run_file(model_path, seed=1)
    assert first.shape == (32, 32, 3)
    assert np.array_equal(first, app_runner.run_file(model_path, seed=1))
    assert not np.array_equal(first, app_runner.run_file(model_path, seed=2))
    latent = np.random.default_rng(1).standard_normal((1, LATENT_DIM)).astype(np.float32)
    expected = conventions.float_to_pixels(keras.models.load_model(vae_path).decoder(latent))[0]
    assert np.abs(first.astype(int) - expected.astype(int)).max() <= 1


def test_run_tflite_command_writes_png(generator_export, tmp_path):
    output = tmp_path / "translated.png"
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    completed = subprocess.run(
        [
            sys.executable, "-m", "export.run_tflite",
            f"--model={generator_export / 'out' / 'generator' / 'generator_int8.tflite'}",
            f"--input={generator_export / 'images' / 'image_001.png'}",
            f"--output={output}",
        ],
        capture_output=True, text=True, env=environment, timeout=300, cwd=REPO_ROOT,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    with Image.open(output) as image:
        assert image.size == (32, 32)
        assert image.mode == "RGB"


def test_run_tflite_command_rejects_seed_and_input(generator_export, tmp_path):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    completed = subprocess.run(
        [
            sys.executable, "-m", "export.run_tflite",
            f"--model={generator_export / 'out' / 'generator' / 'generator_float32.tflite'}",
            f"--input={generator_export / 'images' / 'image_001.png'}", "--seed=1",
            f"--output={tmp_path / 'out.png'}",
        ],
        capture_output=True, text=True, env=environment, timeout=300, cwd=REPO_ROOT,
    )
    assert completed.returncode == 2
    assert "Pass exactly one of --input (generators) and --seed (decoders)" in completed.stderr
    assert not (tmp_path / "out.png").exists()
