"""MirroredStrategy over two logical CPUs makes the same first update as one device at the same global batch.

Each check runs in a fresh process, because logical devices must be set
before TensorFlow initialises and the other tests share one process.

Comparison, for both models: one SGD step (Adam's first step, lr * sign(g),
would hide a wrong loss scale) from equal initial weights on a global batch
of 4, split 2 + 2 over the replicas. The weight change of every variable must
match the single-device change to within `rtol=1e-4` plus an absolute
`1e-6 * max|change|` (float32 sums in another order).

The VAE needs more care, because BatchNormalization normalises each
replica's batch on its own and each replica draws posterior noise:
- Both halves of the global batch hold the same two images, so each
  replica's batch statistics equal those of the whole batch.
- The replicas read one mirrored seed state, so both draw the same noise. The
  global batch then has the same mean gradient as its two distinct images
  with that noise, which is the one-device reference (batch 2, same seed).
  A loss averaged per replica instead of over the global batch would double
  the change, so the comparison still catches a wrong scale.
Measured (TF 2.21, 2-core x86 CPU): the VAE changes match exactly; the
CycleGAN's differ by at most 1.3e-8, 3.6e-7 of the largest change.
The CycleGAN uses instance normalization and no noise, so it takes four
different images per domain. Its history pools are still filling in the
first step and return their input.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

RTOL = 1e-4
ATOL_FRACTION = 1e-6

_COMMON = """
import json
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras

def changes(build, dataset, strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build()
    before = [np.array(v.numpy()) for v in model.variables]
    model.fit(dataset, epochs=1, verbose=0)
    return model, {v.path: (np.array(v.numpy()) - b).tolist() for v, b in zip(model.variables, before)
                   if "seed_generator" not in v.path}

mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
single = tf.distribute.OneDeviceStrategy("/cpu:0")
"""

_VAE = """
from keras_cartoon.models import CartoonVAE
from tests.helpers import structured_images

def build():
    model = CartoonVAE(image_size=32, encoder_filters=[8] * 4, decoder_filters=[8] * 4, latent_dim=4, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(1e-4))
    return model

half = structured_images(2, 32)
dataset = tf.data.Dataset.from_tensor_slices(np.concatenate([half, half])).batch(4)
single_dataset = tf.data.Dataset.from_tensor_slices(half).batch(2)
"""

_CYCLEGAN = """
from keras_cartoon.models.cyclegan import CycleGAN

def build():
    model = CycleGAN(image_size=16, generator_filters=4, discriminator_filters=4, num_residual_blocks=1, pool_size=4)
    model.compile(generator_optimizer=keras.optimizers.SGD(1e-2), discriminator_optimizer=keras.optimizers.SGD(1e-2))
    return model

images_a, images_b = np.random.default_rng(0).uniform(-1, 1, (2, 4, 16, 16, 3)).astype("float32")
dataset = tf.data.Dataset.zip((tf.data.Dataset.from_tensor_slices(images_a),
                               tf.data.Dataset.from_tensor_slices(images_b))).batch(4)
single_dataset = dataset
"""

_COMPARE = """
model, mirrored_changes = changes(build, dataset, mirrored)
_, single_changes = changes(build, single_dataset, single)
print("RESULT " + json.dumps({"replicas": mirrored.num_replicas_in_sync,
                              "mirrored": mirrored_changes, "single": single_changes}))
"""


def _run(model_script):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-c", _COMMON + model_script + _COMPARE],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def _assert_same_changes(outcome):
    import numpy as np

    assert outcome["replicas"] == 2
    mirrored, single = outcome["mirrored"], outcome["single"]
    assert mirrored.keys() == single.keys()
    largest = max(np.abs(np.asarray(change)).max() for change in single.values())
    assert largest > 0
    for path in single:
        np.testing.assert_allclose(
            mirrored[path], single[path], rtol=RTOL, atol=ATOL_FRACTION * largest, err_msg=path
        )


@pytest.mark.parametrize("model_script", [_VAE, _CYCLEGAN], ids=["vae", "cyclegan"])
def test_mirrored_first_update_matches_one_device(model_script):
    _assert_same_changes(_run(model_script))
