"""Measure training throughput of both models in float32 and in mixed precision.

Meant for one short run on a GPU machine: mixed_float16 on a GPU,
mixed_bfloat16 elsewhere. The default step counts are sized to finish in under
3 minutes on one data-centre GPU, an estimate not yet measured. Data is
synthetic and already decoded, so the numbers measure the train step, not
image decoding. Each (model, policy) pair builds a fresh model, runs warm-up steps
(graph tracing, autotuning), then times `--steps` steps with `fit`.

Example:
    python -m benchmarks.gpu_mixed_precision --output=gpu_mixed_precision.json
    python -m benchmarks.gpu_mixed_precision --quick   # a CPU smoke run, seconds
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from benchmarks.machine import describe_machine  # noqa: E402
from keras_cartoon.io_utils import write_text_atomic  # noqa: E402
from keras_cartoon.models import CartoonVAE  # noqa: E402
from keras_cartoon.models.cyclegan import CycleGAN  # noqa: E402
from keras_cartoon.training.precision import configure_precision, resolve_precision, wrap_optimizer  # noqa: E402

_OUTPUT = flags.DEFINE_string("output", "gpu_mixed_precision.json", "Path of the JSON result file.")
_QUICK = flags.DEFINE_bool("quick", False, "Tiny models at 32x32 and 3 steps: checks the script runs, not speed.")
_STEPS = flags.DEFINE_integer("steps", 40, "Timed training steps per model and policy.", lower_bound=1)
_WARMUP_STEPS = flags.DEFINE_integer("warmup_steps", 5, "Untimed steps before timing.", lower_bound=1)

# Full-size settings: the product's 128x128 images, the baseline VAE at its
# default batch, and the CycleGAN's ResNet generators at batch 4.
FULL = {
    "vae": dict(image_size=128, batch_size=32),
    "cyclegan": dict(image_size=128, batch_size=4, generator_filters=64, discriminator_filters=64),
}
QUICK = {
    "vae": dict(image_size=32, batch_size=4, filters=[8, 8, 8, 8]),
    "cyclegan": dict(image_size=32, batch_size=2, generator_filters=4, discriminator_filters=4),
}


def _build(name, settings):
    if name == "vae":
        filters = settings.get("filters")
        model = CartoonVAE(
            image_size=settings["image_size"], encoder_filters=filters, decoder_filters=filters, seed=0
        )
        model.compile(optimizer=wrap_optimizer(keras.optimizers.Adam(1e-3)))
        return model
    model = CycleGAN(
        image_size=settings["image_size"],
        generator_filters=settings["generator_filters"],
        discriminator_filters=settings["discriminator_filters"],
        num_residual_blocks=1 if _QUICK.value else None,
    )
    model.compile()
    return model


def _dataset(name, settings, num_batches):
    size, batch = settings["image_size"], settings["batch_size"]
    images = np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    # One batch repeated: the timing includes the host-to-device copy but no decoding.
    single = tf.data.Dataset.from_tensors(images)
    if name == "cyclegan":
        single = tf.data.Dataset.zip((single, single))
    return single.repeat(num_batches)


def measure(name, policy, settings, steps, warmup_steps):
    """Return images per second of `fit` on `name` under `policy` and the last losses."""
    keras.backend.clear_session()
    configure_precision(policy)
    keras.utils.set_random_seed(0)
    model = _build(name, settings)
    model.fit(_dataset(name, settings, warmup_steps), epochs=1, verbose=0)

    start = time.perf_counter()
    history = model.fit(_dataset(name, settings, steps), epochs=1, verbose=0).history
    seconds = time.perf_counter() - start
    losses = {key: float(values[-1]) for key, values in history.items()}
    return {
        "images_per_second": steps * settings["batch_size"] / seconds,
        "seconds": round(seconds, 3),
        "steps": steps,
        "all_losses_finite": bool(all(np.isfinite(v) for v in losses.values())),
        "losses": losses,
    }


def main(argv):
    del argv
    settings = QUICK if _QUICK.value else FULL
    steps = 3 if _QUICK.value else _STEPS.value
    warmup_steps = 1 if _QUICK.value else _WARMUP_STEPS.value
    mixed = resolve_precision("auto")
    devices = [device.name for device in tf.config.list_physical_devices()]
    logging.info("Devices: %s; mixed precision policy here: %s", devices, mixed)

    results = {"machine": describe_machine(), "devices": devices, "quick": _QUICK.value, "models": {}}
    previous_policy = keras.mixed_precision.global_policy()
    try:
        for name in ("vae", "cyclegan"):
            entry = {"settings": settings[name]}
            for policy in ("float32", mixed):
                entry[policy] = measure(name, policy, settings[name], steps, warmup_steps)
                logging.info("%s %s: %.1f images/s", name, policy, entry[policy]["images_per_second"])
            entry["speedup"] = entry[mixed]["images_per_second"] / entry["float32"]["images_per_second"]
            results["models"][name] = entry
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)

    write_text_atomic(_OUTPUT.value, json.dumps(results, indent=2) + "\n")
    logging.info("Wrote %s", _OUTPUT.value)


if __name__ == "__main__":
    app.run(main)
