"""CycleGAN under MirroredStrategy on two logical CPUs: finite losses and one history pool per replica."""

import json
import math
import os
import subprocess
import sys

from tests.conftest import REPO_ROOT

# Logical devices must be configured before TensorFlow starts, so the check runs in a fresh process.
_SCRIPT = """
import json
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras
from keras_cartoon.models.cyclegan import CycleGAN

keras.utils.set_random_seed(0)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = CycleGAN(image_size=32, generator_filters=4, discriminator_filters=4,
                     num_residual_blocks=1, pool_size=8)
    model.compile()
rng = np.random.default_rng(0)
images_a, images_b = rng.uniform(-1, 1, (2, 8, 32, 32, 3)).astype("float32")
dataset = tf.data.Dataset.zip((tf.data.Dataset.from_tensor_slices(images_a),
                               tf.data.Dataset.from_tensor_slices(images_b))).batch(4)
history = model.fit(dataset, epochs=1, verbose=0).history
counts = [int(v) for v in strategy.experimental_local_results(model._pool_a.count)]
print("RESULT " + json.dumps({"replicas": strategy.num_replicas_in_sync, "pool_counts": counts,
                              "losses": {k: float(v[-1]) for k, v in history.items()}}))
"""


def test_mirrored_two_replicas_train():
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    outcome = json.loads(line.removeprefix("RESULT "))

    assert outcome["replicas"] == 2
    # 2 steps of a global batch of 4: each replica stores its own 2 images per step.
    assert outcome["pool_counts"] == [4, 4]
    for key, value in outcome["losses"].items():
        assert math.isfinite(value), f"{key}={value}"
