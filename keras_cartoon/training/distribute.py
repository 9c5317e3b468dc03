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


def worker_role(strategy):
    """Return `(task_type, task_id)` of this process, or `(None, None)` outside a multi-worker cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return None, None
    return resolver.task_type, resolver.task_id


def is_chief(strategy):
    """Return True for the process that writes the outputs: the chief, or worker 0 when there is no chief."""
    task_type, task_id = worker_role(strategy)
    if task_type is None or task_type == "chief":
        return True
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


def output_dir(model_dir, strategy):
    """Return where this process writes: `model_dir` on the chief, `model_dir/workers/<type>-<id>` elsewhere.

    Every worker of a `MultiWorkerMirroredStrategy` must save checkpoints and
    models, because reading distributed variables runs collective operations
    on all workers. Non-chief workers write to their own folder so they never
    overwrite the chief's files.
    """
    if is_chief(strategy):
        return model_dir
    task_type, task_id = worker_role(strategy)
    return model_dir / "workers" / f"{task_type}-{task_id}"


def metric_results(metrics):
    """Return `{metric.name: metric.result()}` for a `train_step` or `test_step`, shaped for the strategy.

    Keras 3.15 reduces step outputs under a multi-worker strategy with
    `strategy.reduce("MEAN", value, axis=0)`, which fails on scalars
    ("Invalid reduction dimension 0"). There each result is returned with
    shape `(1,)`, which that reduction averages over the workers to a scalar.
    """
    results = {metric.name: metric.result() for metric in metrics}
    strategy = tf.distribute.get_strategy()
    in_multi_worker_mode = getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and in_multi_worker_mode():
        results = {name: tf.reshape(value, (1,)) for name, value in results.items()}
    return results


def average_non_trainable(model, strategy):
    """Average the float non-trainable variables (BatchNormalization moving statistics) over replicas.

    Keras updates moving statistics on each replica from that replica's batch
    only, so after a few steps the copies differ, and under a multi-worker
    strategy each worker would save different statistics. Averaging the copies
    makes them equal everywhere. The moving mean is linear in the batch means,
    so its average equals the moving mean of the global batch means. The
    averaged variance leaves out the spread between replica means, a small
    underestimate. Run it in the cross-replica context, on every worker.
    """
    if strategy.num_replicas_in_sync == 1:
        return
    variables = [
        v for v in model.non_trainable_variables if "float" in str(v.dtype) and "seed_generator" not in v.path
    ]
    if not variables:
        return
    per_replica = strategy.run(lambda: [tf.identity(v.value) for v in variables])
    # One reduce per variable: the multi-worker strategy stacks a list into one tensor.
    for variable, value in zip(variables, per_replica):
        variable.assign(strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None))
