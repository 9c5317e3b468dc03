"""Training throughput of the VAE and CycleGAN: keras_cartoon against PyTorch, alternating.

Every contender runs in its own worker process. All workers are built and
warmed up first, then each repetition runs every contender once, the order
rotated by one per repetition so that none always runs first or last. The
result of a contender is images per second per repetition, summarised as a
median with min/max and quartiles, plus its peak resident memory.
"""

from absl import logging

from benchmarks import stats
from benchmarks.workers import Worker
from benchmarks.workers import WorkerError
from benchmarks.workers import last_line

MIB = 1024 * 1024


def vae_contender_specs(settings):
    """Return `{name: (factory_path, kwargs)}` for the VAE contenders in `settings`."""
    common = dict(image_size=settings.vae_image_size, batch_size=settings.vae_batch_size)
    catalogue = {
        "keras": ("benchmarks.keras_training:KerasVAEContender", dict(common, jit_compile=False)),
        "keras_xla": ("benchmarks.keras_training:KerasVAEContender", dict(common, jit_compile=True)),
        "keras_fused_bn": (
            "benchmarks.keras_training:KerasVAEContender",
            dict(common, experiments=("fused_batchnorm",)),
        ),
        "torch": ("benchmarks.torch_training:TorchVAEContender", dict(common)),
        "torch_channels_last": (
            "benchmarks.torch_training:TorchVAEContender",
            dict(common, channels_last=True),
        ),
    }
    return _select("vae_contenders", catalogue, settings.vae_contenders)


def cyclegan_contender_specs(settings, batch_size):
    """Return `{name: (factory_path, kwargs)}` for the CycleGAN contenders at `batch_size`."""
    common = dict(
        image_size=settings.cyclegan_image_size,
        batch_size=batch_size,
        filters=settings.cyclegan_filters,
        num_residual_blocks=settings.cyclegan_residual_blocks,
    )
    catalogue = {
        "keras": ("benchmarks.keras_training:KerasCycleGANContender", dict(common, jit_compile=False)),
        "keras_xla": ("benchmarks.keras_training:KerasCycleGANContender", dict(common, jit_compile=True)),
        "torch": ("benchmarks.torch_training:TorchCycleGANContender", dict(common)),
    }
    return _select("cyclegan_contenders", catalogue, settings.cyclegan_contenders)


def _select(setting_name, catalogue, names):
    unknown = [name for name in names if name not in catalogue]
    if unknown:
        raise ValueError(
            f"Unknown contender {', '.join(unknown)}; choose from {', '.join(catalogue)}. "
            f"Received: {setting_name}={','.join(names)}"
        )
    return {name: catalogue[name] for name in names}


def _start_and_warm_up(name, factory_path, kwargs, settings, warmup_steps):
    """Start a worker and run its warm-up steps; return (worker or None, partial result)."""
    worker = Worker(name, factory_path, kwargs, settings.threads, settings.interop_threads)
    result = {"status": "ok", "batch_size": kwargs["batch_size"]}
    try:
        if worker.start() == "skipped":
            logging.warning("Contender %s skipped: %s", name, worker.skip_reason)
            return None, {"status": "skipped", "reason": worker.skip_reason}
        result["setup_s"] = worker.setup["setup_s"]
        result["warmup_step_s"] = worker.call("run", warmup_steps)
        result["model"] = worker.call("describe")
    except WorkerError as error:
        logging.error("Contender %s failed while starting: %s", name, error)
        worker.close()
        return None, {"status": "failed", "reason": last_line(str(error)), "error": str(error)}
    logging.info(
        "Contender %s ready in %.1f s; warm-up steps took %s s.",
        name,
        result["setup_s"],
        ", ".join(f"{seconds:.2f}" for seconds in result["warmup_step_s"]),
    )
    return worker, result


def measure_alternating(specs, settings, warmup_steps, steps, repetitions=None):
    """Warm up every contender, then time `steps` steps per contender per repetition, alternating.

    Returns `{name: result}`; a result has `status` "ok", "skipped" or
    "failed", and for "ok" `images_per_s` (summary over repetitions),
    `step_s` (every timed step, per repetition) and `peak_rss_mib`.
    """
    repetitions = repetitions or settings.repetitions
    workers, results = {}, {}
    for name, (factory_path, kwargs) in specs.items():
        worker, results[name] = _start_and_warm_up(name, factory_path, kwargs, settings, warmup_steps)
        if worker is not None:
            workers[name] = worker
            results[name]["step_s"] = []

    try:
        for repetition in range(repetitions):
            for name in stats.rotated(list(workers), repetition):
                if results[name]["status"] != "ok":
                    continue
                try:
                    results[name]["step_s"].append(workers[name].call("run", steps))
                except WorkerError as error:
                    logging.error("Contender %s failed in repetition %d: %s", name, repetition, error)
                    results[name].update(status="failed", reason=last_line(str(error)), error=str(error))
            logging.info("Repetition %d/%d done.", repetition + 1, repetitions)
    finally:
        for name, worker in workers.items():
            peak = worker.close()
            results[name]["peak_rss_mib"] = None if peak is None else peak / MIB
            results[name]["rss_after_setup_mib"] = worker.setup.get("rss_after_setup_bytes", 0) / MIB

    for name, result in results.items():
        if result["status"] == "ok":
            per_repetition = stats.throughput_per_repetition(result["step_s"], result["batch_size"])
            result["images_per_s"] = stats.summarize(per_repetition)
    return results


def run_vae(settings):
    """Measure VAE training throughput; return the section's result dict."""
    specs = vae_contender_specs(settings)
    contenders = measure_alternating(specs, settings, settings.vae_warmup_steps, settings.vae_steps)
    return {
        "status": "ok",
        "image_size": settings.vae_image_size,
        "batch_size": settings.vae_batch_size,
        "steps_per_repetition": settings.vae_steps,
        "warmup_steps": settings.vae_warmup_steps,
        "repetitions": settings.repetitions,
        "contenders": contenders,
    }


def run_cyclegan(settings):
    """Measure CycleGAN training throughput at each batch size; return the section's result dict."""
    by_batch = {}
    for batch_size in settings.cyclegan_batch_sizes:
        specs = cyclegan_contender_specs(settings, batch_size)
        logging.info("CycleGAN at batch %d.", batch_size)
        by_batch[str(batch_size)] = measure_alternating(
            specs, settings, settings.cyclegan_warmup_steps, settings.cyclegan_steps
        )
    return {
        "status": "ok",
        "image_size": settings.cyclegan_image_size,
        "filters": settings.cyclegan_filters,
        "residual_blocks": settings.cyclegan_residual_blocks,
        "steps_per_repetition": settings.cyclegan_steps,
        "warmup_steps": settings.cyclegan_warmup_steps,
        "repetitions": settings.repetitions,
        "batches": by_batch,
    }
