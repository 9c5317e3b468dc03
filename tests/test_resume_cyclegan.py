"""The CycleGAN trainer resumes after SIGKILL with a continuous history, restored pools and optimizer steps."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from keras_cartoon.config import CycleGANConfig
from keras_cartoon.training import checkpointing
from keras_cartoon.training import cyclegan_lib
from tests.conftest import REPO_ROOT

EPOCHS = 2
STEPS_PER_EPOCH = 4
TINY_FLAGS = [
    "--image_size=32",
    "--batch_size=1",
    "--generator_filters=4",
    "--discriminator_filters=4",
    "--num_residual_blocks=1",
    "--pool_size=3",
    f"--steps_per_epoch={STEPS_PER_EPOCH}",
    f"--epochs={EPOCHS}",
    "--checkpoint_every_steps=2",
]


def _folder(path, seed):
    path.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)).save(path / f"image_{i}.png")
    return path


@pytest.fixture
def domains(tmp_path):
    return _folder(tmp_path / "a", 0), _folder(tmp_path / "b", 1)


def _checkpoints(model_dir):
    folder = model_dir / "checkpoints"
    return sorted(p for p in folder.iterdir() if p.name.startswith("ckpt-")) if folder.is_dir() else []


def test_sigkill_mid_epoch_then_rerun_finishes(domains, tmp_path):
    model_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "trainers.train_cyclegan",
        f"--domain_a={domains[0]}",
        f"--domain_b={domains[1]}",
        f"--model_dir={model_dir}",
        *TINY_FLAGS,
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    with open(tmp_path / "first.log", "w") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 240
    while not any(not p.name.endswith("-000000") for p in _checkpoints(model_dir)):
        assert process.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint within 240 s"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert not (model_dir / "metrics.json").exists(), "the first run finished before the kill"

    rerun = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)

    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "Restored checkpoint" in rerun.stderr
    with open(model_dir / "history.csv", newline="") as file:
        assert [int(row["epoch"]) for row in csv.DictReader(file)] == list(range(1, EPOCHS + 1))
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["global_steps"] == EPOCHS * STEPS_PER_EPOCH


def test_checkpoint_restores_pools_and_optimizer_steps(domains, tmp_path):
    config = CycleGANConfig(generator_filters=4, discriminator_filters=4, num_residual_blocks=1, pool_size=3,
                            num_monitor_images=2)
    cyclegan_lib.train(tmp_path / "run", domain_a=domains[0], domain_b=domains[1], epochs=1, batch_size=1,
                       image_size=32, config=config, steps_per_epoch=STEPS_PER_EPOCH)

    model = cyclegan_lib.build_cyclegan(config, image_size=32)
    model.compile(*cyclegan_lib.build_optimizers(config, total_steps=STEPS_PER_EPOCH))
    optimizers = {"generator": model.generator_optimizer, "discriminator": model.discriminator_optimizer}
    store = checkpointing.CheckpointStore(
        tmp_path / "run" / "checkpoints",
        checkpointing.training_trackables(model, optimizers, extra={"history_pools": model.history_pool_variables()}),
    )
    state = store.restore_latest()

    assert state.global_step == STEPS_PER_EPOCH
    for optimizer in optimizers.values():
        assert int(optimizer.iterations.numpy()) == STEPS_PER_EPOCH
    pools = model.history_pool_variables()
    # Four steps of one image each fill a pool of 3.
    assert int(pools["pool_a_count"].numpy()) == 3
    assert int(pools["pool_b_calls"].numpy()) == STEPS_PER_EPOCH
    assert np.abs(pools["pool_a_buffer"].numpy()).sum() > 0
