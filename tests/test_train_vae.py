import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from keras_cartoon.io_utils import load_model_safely
from keras_cartoon.training.vae_lib import train_vae
from tests.conftest import REPO_ROOT

TINY_RUN = dict(
    epochs=1,
    batch_size=2,
    image_size=32,
    encoder_filters=[8, 8, 8, 8],
    decoder_filters=[8, 8, 8, 8],
    latent_dim=4,
    verbose=0,
)
OUTPUT_PNGS = ("learning_curve.png", "reconstructions.png", "samples.png")


@pytest.fixture
def image_dir(tmp_path):
    """Twelve 40x40 PNGs: a coloured background with a white bar at a different place in each."""
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        image = np.zeros((40, 40, 3), np.uint8)
        image[:] = rng.integers(0, 256, 3)
        image[10:30, 2 + 2 * i : 10 + 2 * i] = 255
        Image.fromarray(image).save(folder / f"face_{i:02d}.png")
    return folder


def _png(path):
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        return image.format, image.size


def _assert_metrics_finite(metrics):
    for key in (
        "reconstruction_psnr",
        "reconstruction_ssim",
        "validation_loss",
        "validation_reconstruction_loss",
        "validation_kl_loss",
    ):
        assert isinstance(metrics[key], float), key
        assert math.isfinite(metrics[key]), key


def test_train_vae_writes_every_output(image_dir, tmp_path):
    model_dir = tmp_path / "run"

    results = train_vae(model_dir, data_dir=image_dir, **TINY_RUN)

    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics == results
    _assert_metrics_finite(metrics)
    assert -1.0 <= metrics["reconstruction_ssim"] <= 1.0
    assert metrics["num_train_images"] + metrics["num_validation_images"] == 12
    assert metrics["epochs_completed"] == 1

    for name in OUTPUT_PNGS:
        assert _png(model_dir / name)[0] == "PNG", name
    # 32 px tiles, 2 px padding, 8 per row: one row of real images, one of reconstructions.
    assert _png(model_dir / "reconstructions.png")[1] == (8 * 34 + 2, 2 * 34 + 2)
    assert _png(model_dir / "samples.png")[1] == (8 * 34 + 2, 2 * 34 + 2)

    history = (model_dir / "history.csv").read_text().splitlines()
    assert len(history) == 2
    assert "val_loss" in history[0]

    for subdir in ("train", "validation", "images"):
        assert list((model_dir / "logs" / subdir).glob("events.out.tfevents.*")), subdir
    assert json.loads((model_dir / "train_config.json").read_text())["image_size"] == 32

    vae = load_model_safely(model_dir / "vae.keras")
    assert tuple(vae.sample(2, seed=0).shape) == (2, 32, 32, 3)
    # No temporary file of the atomic writes is left behind.
    assert not [path.name for path in model_dir.iterdir() if path.name.startswith(".")]


def test_train_vae_restores_precision_policy(image_dir, tmp_path):
    import keras

    train_vae(tmp_path / "run", data_dir=image_dir, mixed_precision="mixed_bfloat16", **TINY_RUN)

    assert keras.mixed_precision.global_policy().name == "float32"
    _assert_metrics_finite(json.loads((tmp_path / "run" / "metrics.json").read_text()))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(epochs=0), "Received: epochs=0"),
        (dict(batch_size=-2), "Received: batch_size=-2"),
        (dict(learning_rate=0.0), "Received: learning_rate=0.0"),
        (dict(validation_fraction=0.0), "Received: validation_fraction=0.0"),
        (dict(preset="huge"), "Received: preset='huge'"),
        (dict(image_size=40), "image_size=40"),
    ],
)
def test_train_vae_invalid_argument_names_it(image_dir, tmp_path, kwargs, message):
    arguments = dict(TINY_RUN, **kwargs)

    with pytest.raises(ValueError, match=message):
        train_vae(tmp_path / "run", data_dir=image_dir, **arguments)
    assert not (tmp_path / "run" / "vae.keras").exists()


def test_train_vae_missing_data_dir_raises(tmp_path):
    with pytest.raises(ValueError, match="missing_folder"):
        train_vae(tmp_path / "run", data_dir=tmp_path / "missing_folder", **TINY_RUN)


def _run_trainer(*flags):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return subprocess.run(
        [sys.executable, "-m", "trainers.train_vae", *flags],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_trainer_binary_trains_tiny_run(image_dir, tmp_path):
    result = _run_trainer(
        f"--data_dir={image_dir}", f"--model_dir={tmp_path / 'run'}", "--epochs=1", "--batch_size=2", "--image_size=32"
    )

    assert result.returncode == 0, result.stderr[-3000:]
    _assert_metrics_finite(json.loads((tmp_path / "run" / "metrics.json").read_text()))
    assert (tmp_path / "run" / "vae.keras").is_file()


@pytest.mark.parametrize(
    "flag, expected",
    [
        ("--image_size=40", "--image_size=40"),
        ("--preset=huge", "--preset=huge"),
    ],
)
def test_trainer_rejects_bad_flag(tmp_path, flag, expected):
    result = _run_trainer(f"--model_dir={tmp_path / 'run'}", flag)

    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_trainer_missing_data_dir_logs_error(tmp_path):
    result = _run_trainer(f"--model_dir={tmp_path / 'run'}", f"--data_dir={tmp_path / 'nowhere'}")

    assert result.returncode == 1
    assert "nowhere" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.large
def test_two_epochs_on_cartoonset_lower_validation_loss(cartoonset_dir, tmp_path):
    model_dir = tmp_path / "run"

    metrics = train_vae(model_dir, data_dir=cartoonset_dir, epochs=2, image_size=128, batch_size=32, verbose=0)

    history = (model_dir / "history.csv").read_text().splitlines()
    header = history[0].split(",")
    val_losses = [float(row.split(",")[header.index("val_loss")]) for row in history[1:]]
    assert len(val_losses) == 2
    assert val_losses[1] < val_losses[0]
    _assert_metrics_finite(metrics)
    assert metrics["num_train_images"] + metrics["num_validation_images"] + metrics["num_skipped_files"] == 630
    for name in OUTPUT_PNGS:
        assert _png(model_dir / name)[0] == "PNG", name
    assert _png(model_dir / "reconstructions.png")[1] == (8 * 130 + 2, 2 * 130 + 2)
