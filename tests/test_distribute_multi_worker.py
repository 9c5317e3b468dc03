"""MultiWorkerMirroredStrategy: two trainer processes on loopback train one epoch and end with equal weights."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from keras_cartoon.config import DataConfig
from keras_cartoon.data.pipeline import validation_score
from keras_cartoon.io_utils import load_model_safely
from tests.conftest import REPO_ROOT


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


@pytest.fixture
def image_dir(tmp_path):
    """Six training and two validation images: validation fills exactly one global batch of 2."""
    folder = tmp_path / "images"
    folder.mkdir()
    names = {True: [], False: []}
    index = 0
    while len(names[True]) < 2 or len(names[False]) < 6:
        name = f"face_{index}.png"
        held_out = validation_score(name, seed=0) < DataConfig.validation_fraction
        if len(names[held_out]) < (2 if held_out else 6):
            names[held_out].append(name)
        index += 1
    rng = np.random.default_rng(0)
    for name in names[True] + names[False]:
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / name)
    return folder


def test_two_workers_end_with_equal_weights(image_dir, tmp_path):
    model_dir = tmp_path / "run"
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    processes = []
    for index in range(2):
        env = dict(
            os.environ,
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            CUDA_VISIBLE_DEVICES="",
            TF_CPP_MIN_LOG_LEVEL="2",
        )
        command = [
            sys.executable,
            "-m",
            "trainers.train_vae",
            f"--data_dir={image_dir}",
            f"--model_dir={model_dir}",
            "--strategy=multi_worker",
            "--epochs=1",
            "--batch_size=2",
            "--image_size=32",
            "--latent_dim=4",
        ]
        log = open(tmp_path / f"worker_{index}.log", "w")
        processes.append((subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=log), log))

    for process, log in processes:
        try:
            process.wait(timeout=240)
        finally:
            process.kill()
            log.close()
    logs = [(tmp_path / f"worker_{index}.log").read_text() for index in range(2)]

    for (process, _), log in zip(processes, logs):
        assert process.returncode == 0, log[-3000:]
    assert "CollectiveAllReduceStrategy with 2 replica(s)" in logs[0]
    chief = load_model_safely(model_dir / "vae.keras")
    worker = load_model_safely(model_dir / "workers" / "worker-1" / "vae.keras")
    assert len(chief.weights) == len(worker.weights)
    for chief_weight, worker_weight in zip(chief.weights, worker.weights):
        np.testing.assert_array_equal(chief_weight.numpy(), worker_weight.numpy(), err_msg=chief_weight.path)
    metrics = json.loads((model_dir / "metrics.json").read_text())
    # Each step consumed one global batch of 2 images, split over the two workers.
    assert metrics["num_train_images"] == 6
    assert metrics["global_steps"] == 3
    assert (model_dir / "checkpoints").is_dir()
    assert (model_dir / "workers" / "worker-1" / "checkpoints").is_dir()
