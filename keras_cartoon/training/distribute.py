"""`tf.distribute` strategy from a name, with the devices logged once per process."""

import os

import tensorflow as tf
from absl import logging

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")

_devices_logged = False


def log_devices():
    """Log the physical devices visible to TensorFlow, once per process."""
    global _devices_logged
    if _devices_logged:
        return
    _devices_logged = True
    devices = tf.config.list_physical_devices()
    logging.info("Devices: %s", ", ".join(f"{d.device_type}:{d.name}" for d in devices) or "none")


def get_strategy(name="default", tpu=None):
    """Create the `tf.distribute.Strategy` called `name`.

    Args:
        name: str. `"default"`: the current (no-op) strategy, one device.
            `"mirrored"`: synchronous data parallelism over the local GPUs.
            `"multi_worker"`: synchronous data parallelism over the workers
            in the `TF_CONFIG` environment variable. `"tpu"`: a TPU system.
        tpu: str or `None`. TPU name or `grpc://` address for `"tpu"`;
            `None` or `""` uses the local TPU VM. Defaults to `None`.

    Returns:
        a `tf.distribute.Strategy`. Build and compile the model inside its
        `scope()`.
    """
    if name not in STRATEGIES:
        raise ValueError(f"`strategy` must be one of {list(STRATEGIES)}. Received: strategy={name!r}")
    if tpu and name != "tpu":
        raise ValueError(f'`tpu` is used only with strategy="tpu". Received: strategy={name!r}, tpu={tpu!r}')
    log_devices()

    if name == "default":
        strategy = tf.distribute.get_strategy()
    elif name == "mirrored":
        if not tf.config.list_physical_devices("GPU"):
            logging.warning('strategy="mirrored" found no GPU, so it runs on the CPU as one replica.')
        strategy = tf.distribute.MirroredStrategy()
    elif name == "multi_worker":
        # Without TF_CONFIG the strategy runs as a single worker. Warn, because a
        # missing variable on a cluster would silently train N separate models.
        if "TF_CONFIG" not in os.environ:
            logging.warning('strategy="multi_worker" without TF_CONFIG runs as one worker.')
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        strategy = _tpu_strategy(tpu)

    logging.info("Distribution strategy: %s with %d replica(s).", type(strategy).__name__, strategy.num_replicas_in_sync)
    return strategy


def _tpu_strategy(tpu):
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as error:
        raise ValueError(
            "Could not connect to a TPU. Run on a TPU VM, or pass --tpu with the TPU name or "
            f"grpc:// address. Received: tpu={tpu!r} ({type(error).__name__}: {error})"
        ) from error
    return tf.distribute.TPUStrategy(resolver)
