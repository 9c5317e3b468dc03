"""The VAE trainer CLI survives SIGKILL and SIGTERM mid-epoch and resumes with a continuous history."""

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO_ROOT

# About 11 training images at batch 2: 6 steps per epoch, a mid-epoch checkpoint every 2 steps.
EPOCHS = 3


@pytest.fixture
def image_dir(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        image = np.zeros((32, 32, 3), np.uint8)
        image[:] = rng.integers(0, 256, 3)
        image[8:24, 2 + 2 * i : 8 + 2 * i] = 255
        Image.fromarray(image).save(folder / f"face_{i:02d}.png")
    return folder


def _command(image_dir, model_dir):
    return [
        sys.executable,
        "-m",
        "trainers.train_vae",
        f"--data_dir={image_dir}",
        f"--model_dir={model_dir}",
        f"--epochs={EPOCHS}",
        "--batch_size=2",
        "--image_size=32",
        "--latent_dim=4",
        "--checkpoint_every_steps=2",
        "--keep_checkpoints=2",
    ]


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1")


def _checkpoints(model_dir):
    folder = model_dir / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if path.name.startswith("ckpt-"))


def _start_and_wait_for_checkpoint(image_dir, model_dir, stderr_path):
    """Start the trainer and return it once its first mid-epoch checkpoint exists."""
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            _command(image_dir, model_dir), cwd=REPO_ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=stderr
        )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if any(not path.name.endswith("-000000") for path in _checkpoints(model_dir)):
            return process
        if process.poll() is not None:
            raise AssertionError(f"Trainer exited early: {stderr_path.read_text()[-3000:]}")
        time.sleep(0.02)
    process.kill()
    raise AssertionError("No checkpoint appeared within 240 s.")


def _history_epochs(model_dir):
    with open(model_dir / "history.csv", newline="") as file:
        return [int(row["epoch"]) for row in csv.DictReader(file)]


def test_sigkill_mid_epoch_then_rerun_finishes(image_dir, tmp_path):
    model_dir = tmp_path / "run"
    process = _start_and_wait_for_checkpoint(image_dir, model_dir, tmp_path / "first.log")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert not (model_dir / "metrics.json").exists(), "the first run finished before the kill"
    newest = _checkpoints(model_dir)[-1].name

    rerun = subprocess.run(
        _command(image_dir, model_dir), cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=300
    )

    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"Restored checkpoint {model_dir / 'checkpoints' / newest}" in rerun.stderr
    if not newest.endswith("-000000"):
        assert "Resuming epoch" in rerun.stderr
    assert _history_epochs(model_dir) == list(range(EPOCHS))
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["epochs_completed"] == EPOCHS
    # A resumed run makes exactly as many updates as an uninterrupted one.
    steps_per_epoch = math.ceil(metrics["num_train_images"] / 2)
    assert metrics["global_steps"] == EPOCHS * steps_per_epoch
    assert len(_checkpoints(model_dir)) <= 2
    assert not list((model_dir / "checkpoints").glob(".tmp-*"))


def test_sigterm_saves_checkpoint_of_that_step(image_dir, tmp_path):
    model_dir = tmp_path / "run"
    log_path = tmp_path / "first.log"
    process = _start_and_wait_for_checkpoint(image_dir, model_dir, log_path)
    process.send_signal(signal.SIGTERM)
    returncode = process.wait(timeout=120)
    log = log_path.read_text()

    assert returncode == 143, log[-3000:]
    assert "Stopped by SIGTERM" in log
    stopped_step = int(log.split("(global step ")[-1].split(")")[0])
    newest = _checkpoints(model_dir)[-1]
    metadata = json.loads((newest / "metadata.json").read_text())
    assert metadata["global_step"] == stopped_step
    assert str(newest) in log
    assert not (model_dir / "metrics.json").exists()


@pytest.mark.parametrize("flag", ["--keep_checkpoints=0", "--checkpoint_every_steps=0"])
def test_trainer_rejects_bad_checkpoint_flag(tmp_path, flag):
    command = [sys.executable, "-m", "trainers.train_vae", f"--model_dir={tmp_path / 'run'}", flag]

    result = subprocess.run(command, cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=120)

    assert result.returncode != 0
    assert flag in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()
