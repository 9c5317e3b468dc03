"""Bad input to the command-line tools: a clear message and a non-zero exit, never a traceback.

Every test runs a real CLI in a subprocess, as a user would. Each process
imports TensorFlow (several seconds), so the cases are kept to one per rule.
"""

import io
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY_FLAGS = ["--image_size=32", "--epochs=1", "--batch_size=2"]

# Valid images in unusual encodings: the scan must keep every one of them.
NUM_PLAIN_IMAGES = 5
ODD_VALID_IMAGES = ("cmyk.jpg", "gray16.png", "palette_alpha.png", "gray_alpha.png", "exif_rotated.jpg", "animated.gif")
# Files the scan must skip, each for its own reason (hidden files included).
BAD_FILES = (
    "zero_bytes.png",
    "truncated.png",
    "truncated.jpg",
    "page.png",
    "tiff_named.png",
    "one_pixel.png",
    "broken_link.png",
    ".DS_Store",
)


def _random_rgb(rng, side=40):
    return Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))


def _encoded(image, image_format):
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def _write_bad_files(folder, rng):
    (folder / "zero_bytes.png").write_bytes(b"")
    png = _encoded(_random_rgb(rng), "PNG")
    (folder / "truncated.png").write_bytes(png[: len(png) // 2])
    jpeg = _encoded(_random_rgb(rng), "JPEG")
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "page.png").write_text("<!DOCTYPE html><html><body>404</body></html>")
    _random_rgb(rng).save(folder / "tiff_named.png", format="TIFF")
    Image.new("RGB", (1, 1)).save(folder / "one_pixel.png")
    os.symlink(folder / "missing_target.png", folder / "broken_link.png")
    (folder / ".DS_Store").write_bytes(b"\x00\x01")


@pytest.fixture(scope="module")
def image_dirs(tmp_path_factory):
    """Return folders `mixed` (good and bad files), `only_bad`, `empty` and `good`."""
    root = tmp_path_factory.mktemp("cli_images")
    rng = np.random.default_rng(0)
    mixed = root / "mixed"
    only_bad = root / "only_bad"
    good = root / "good"
    for folder in (mixed, only_bad, good, root / "empty"):
        folder.mkdir()

    for index in range(NUM_PLAIN_IMAGES):
        _random_rgb(rng).save(mixed / f"face_{index}.png")
        _random_rgb(rng).save(good / f"face_{index}.png")
    _random_rgb(rng).convert("CMYK").save(mixed / "cmyk.jpg")
    Image.fromarray(rng.integers(0, 65536, (40, 40)).astype(np.uint16)).save(mixed / "gray16.png")
    _random_rgb(rng).convert("P").save(mixed / "palette_alpha.png", transparency=0)
    Image.fromarray(rng.integers(0, 256, (40, 40, 2), dtype=np.uint8), "LA").save(mixed / "gray_alpha.png")
    rotated = _random_rgb(rng)
    exif = rotated.getexif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise.
    rotated.save(mixed / "exif_rotated.jpg", exif=exif)
    frames = [_random_rgb(rng) for _ in range(3)]
    frames[0].save(mixed / "animated.gif", save_all=True, append_images=frames[1:])

    _write_bad_files(mixed, rng)
    _write_bad_files(only_bad, rng)
    return {"mixed": mixed, "only_bad": only_bad, "empty": root / "empty", "good": good, "root": root}


@pytest.fixture(scope="module")
def regular_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli_files") / "a_file"
    path.write_text("not a folder")
    return path


def run_cli(module, *args):
    """Run `python -m module args` from the repository root; return (exit code, stdout + stderr)."""
    completed = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=180,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""},
    )
    return completed.returncode, completed.stdout + completed.stderr


def test_train_vae_mixed_folder_uses_good_images(image_dirs, tmp_path):
    model_dir = tmp_path / "vae"
    code, output = run_cli("trainers.train_vae", f"--data_dir={image_dirs['mixed']}", f"--model_dir={model_dir}", *TINY_FLAGS)
    assert code == 0, output[-3000:]
    metrics = json.loads((model_dir / "metrics.json").read_text())
    num_images = metrics["num_train_images"] + metrics["num_validation_images"]
    assert num_images == NUM_PLAIN_IMAGES + len(ODD_VALID_IMAGES)
    assert metrics["num_skipped_files"] == len(BAD_FILES)
    assert (model_dir / "vae.keras").is_file()
    total_files = NUM_PLAIN_IMAGES + len(ODD_VALID_IMAGES) + len(BAD_FILES)
    assert f"{total_files} files, {num_images} usable images, {len(BAD_FILES)} skipped" in output


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--epochs=0"], "--epochs=0"),
        (["--epochs=-2"], "--epochs=-2"),
        (["--image_size=30"], "multiple of 16"),
        (["--epoch=1"], "Did you mean: epochs"),
        (["stray_argument"], "Unexpected command-line arguments: stray_argument"),
    ],
)
def test_train_vae_rejects_bad_flag(tmp_path, args, expected):
    code, output = run_cli("trainers.train_vae", f"--model_dir={tmp_path / 'vae'}", *args)
    assert code != 0
    assert expected in output
    assert "Traceback" not in output
    assert not (tmp_path / "vae").exists()


@pytest.mark.parametrize(
    "folder, expected",
    [
        ("missing", "does not exist"),
        ("empty", "is empty"),
        ("only_bad", "contains no usable image"),
    ],
)
def test_train_vae_rejects_bad_data_dir(image_dirs, tmp_path, folder, expected):
    data_dir = image_dirs.get(folder, image_dirs["root"] / folder)
    code, output = run_cli("trainers.train_vae", f"--data_dir={data_dir}", f"--model_dir={tmp_path / 'vae'}", *TINY_FLAGS)
    assert code == 1
    assert expected in output
    assert f"data_dir='{data_dir}'" in output
    assert "Traceback" not in output
    assert not (tmp_path / "vae" / "checkpoints").exists()


def test_train_vae_rejects_batch_above_data(image_dirs, tmp_path):
    code, output = run_cli(
        "trainers.train_vae", f"--data_dir={image_dirs['good']}", f"--model_dir={tmp_path / 'vae'}", "--image_size=32", "--batch_size=64"
    )
    assert code == 1
    assert "batch_size=64 is larger than the" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("under_file", [False, True], ids=["existing_file", "path_under_file"])
def test_train_vae_rejects_unusable_model_dir(image_dirs, regular_file, under_file):
    model_dir = regular_file / "sub" if under_file else regular_file
    code, output = run_cli("trainers.train_vae", f"--data_dir={image_dirs['good']}", f"--model_dir={model_dir}", *TINY_FLAGS)
    assert code == 1
    assert f"model_dir='{model_dir}'" in output
    assert "Traceback" not in output


def test_train_cyclegan_rejects_model_dir_under_file(image_dirs, regular_file):
    model_dir = regular_file / "sub"
    code, output = run_cli(
        "trainers.train_cyclegan", f"--domain_a={image_dirs['good']}", f"--domain_b={image_dirs['good']}",
        f"--model_dir={model_dir}", *TINY_FLAGS,
    )
    assert code != 0
    assert f"model_dir='{model_dir}'" in output
    assert "Traceback" not in output


def test_ablate_vae_rejects_output_dir_under_file(image_dirs, regular_file):
    output_dir = regular_file / "sub"
    code, output = run_cli("trainers.ablate_vae", f"--data_dir={image_dirs['good']}", f"--output_dir={output_dir}", *TINY_FLAGS)
    assert code == 1
    assert f"output_dir='{output_dir}'" in output
    assert "Traceback" not in output


def test_translate_rejects_output_dir_under_file(image_dirs, regular_file):
    output_dir = regular_file / "sub"
    # The output folder is checked before the generator file is opened.
    code, output = run_cli(
        "trainers.translate", f"--generator={regular_file}", f"--input={image_dirs['good']}",
        f"--output_dir={output_dir}",
    )
    assert code != 0
    assert f"output_dir='{output_dir}'" in output
    assert "Traceback" not in output


@pytest.fixture(scope="module")
def vae_file(tmp_path_factory):
    """A small saved CartoonVAE, built in-process so no test waits on a training run."""
    from tests.test_export_parts import build_trained_vae

    path = tmp_path_factory.mktemp("cli_vae") / "vae.keras"
    build_trained_vae(steps=1).save(path)
    return path


def _write_lambda_model(path):
    import keras

    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Lambda(lambda images: images * 0.5)(inputs)
    keras.Model(inputs, outputs).save(path)


def _written_files(folder):
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


# A random file named .keras fails the same zip check as a truncated one.
@pytest.mark.parametrize("kind", ["lambda", "truncated"])
def test_export_rejects_bad_model_file(vae_file, tmp_path, kind):
    model_path = tmp_path / f"{kind}.keras"
    if kind == "lambda":
        _write_lambda_model(model_path)
        expected = "--unsafe_load"
    else:
        archive = vae_file.read_bytes()
        model_path.write_bytes(archive[: len(archive) // 2])
        expected = "corrupt or truncated"
    code, output = run_cli("export", f"--model={model_path}", f"--output_dir={tmp_path / 'out'}")
    assert code == 2
    assert expected in output
    assert str(model_path) in output
    assert "Traceback" not in output
    assert _written_files(tmp_path / "out") == []
    # The export created the folder, so a failed export removes it again.
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--quantization=int4"], "Received: quantization=int4"),
        (["--parts=tail"], "Received: parts=tail"),
        (["stray_argument"], "Unexpected positional arguments: stray_argument"),
    ],
)
def test_export_rejects_bad_flag(vae_file, tmp_path, args, expected):
    code, output = run_cli("export", f"--model={vae_file}", f"--output_dir={tmp_path / 'out'}", *args)
    assert code != 0
    assert expected in output
    assert "Traceback" not in output
    assert _written_files(tmp_path / "out") == []


def test_run_tflite_rejects_stray_argument(tmp_path):
    model_path = tmp_path / "decoder.tflite"
    model_path.write_bytes(b"\x00" * 16)
    code, output = run_cli("export.run_tflite", f"--model={model_path}", "--seed=1", f"--output={tmp_path / 'face.png'}", "stray")
    assert code != 0
    assert "Unexpected positional arguments: stray" in output
    assert not (tmp_path / "face.png").exists()


def test_run_tflite_rejects_output_under_file(tmp_path, regular_file):
    model_path = tmp_path / "decoder.tflite"
    model_path.write_bytes(b"\x00" * 16)
    output_path = regular_file / "face.png"
    code, output = run_cli("export.run_tflite", f"--model={model_path}", "--seed=1", f"--output={output_path}")
    assert code == 2
    assert f"--output='{output_path}'" in output
    assert "Traceback" not in output
