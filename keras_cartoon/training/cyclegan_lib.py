"""CycleGAN training logic behind `trainers/train_cyclegan.py`: data, model, fit, outputs."""

import dataclasses
import json
import pathlib

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from keras_cartoon import data as data_lib
from keras_cartoon.config import CycleGANConfig
from keras_cartoon.config import DataConfig
from keras_cartoon.cyclegan_callbacks import DiversityMonitor
from keras_cartoon.cyclegan_callbacks import HistoryCSV
from keras_cartoon.cyclegan_callbacks import translate
from keras_cartoon.cyclegan_callbacks import write_translation_grid
from keras_cartoon.io_utils import atomic_write
from keras_cartoon.io_utils import check_output_dir
from keras_cartoon.io_utils import write_text_atomic
from keras_cartoon.metrics.image_quality import psnr
from keras_cartoon.models.cyclegan import CycleGAN
from keras_cartoon.schedules import LinearDecaySchedule
from keras_cartoon.training import checkpointing
from keras_cartoon.training import distribute
from keras_cartoon.training import precision
from keras_cartoon.training.resumable import fit_resumable

LOSS_KEYS = (
    "total_generator_loss",
    "generator_a2b_loss",
    "generator_b2a_loss",
    "cycle_loss",
    "identity_loss",
    "discriminator_a_loss",
    "discriminator_b_loss",
)
# Images in translations.png (one column each); fewer when a domain has fewer.
NUM_GRID_IMAGES = 6


@dataclasses.dataclass
class UnpairedData:
    """Zipped training batches `(real_a, real_b)` and fixed held-out images per domain.

    Attributes:
        dataset: infinite `tf.data.Dataset` of `(real_a, real_b)` float32 batches.
        steps_per_epoch: batches per epoch (the larger domain's training set,
            unless set explicitly).
        train_sizes: `(num_a, num_b)` training images.
        monitor_a, monitor_b: `(N, H, W, 3)` fixed images in [-1, 1] for the
            diversity monitor, grids and metrics, from the validation split
            (topped up from training files when it contains fewer than 2).
    """

    dataset: object
    steps_per_epoch: int
    train_sizes: tuple
    monitor_a: np.ndarray
    monitor_b: np.ndarray


def jitter_size(image_size, jitter_scale):
    """Return the size images are resized to before the random crop (at least `image_size`)."""
    return max(image_size, int(round(image_size * jitter_scale)))


def _domain_dataset(train_paths, image_size, jitter_scale, seed):
    load_size = jitter_size(image_size, jitter_scale)
    # Decoded once at the jitter size and cached; crop and flip run every epoch.
    dataset = data_lib.paths_dataset(train_paths, load_size, batch_size=None, shuffle=True, seed=seed, flip=True)
    if load_size > image_size:
        dataset = dataset.map(
            lambda image: tf.image.random_crop(image, (image_size, image_size, 3), seed=seed),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.repeat()


def _monitor_images(train_paths, validation_paths, image_size, count):
    paths = list(validation_paths[:count])
    if len(paths) < 2:
        paths += list(train_paths[: count - len(paths)])
    return data_lib.load_images(paths, image_size)


def unpaired_datasets(
    domain_a,
    domain_b,
    image_size,
    batch_size,
    seed=DataConfig.seed,
    jitter_scale=CycleGANConfig.jitter_scale,
    validation_fraction=DataConfig.validation_fraction,
    steps_per_epoch=None,
    num_monitor_images=CycleGANConfig.num_monitor_images,
):
    """Build the unpaired training stream of two image folders.

    Each folder is scanned (bad files skipped and logged), split into train
    and validation by the seeded file-name hash, decoded once at
    `image_size * jitter_scale` and cached, then every epoch randomly cropped
    to `image_size` and flipped (the CycleGAN jitter: 286 -> 256 in the
    reference). Both domains repeat forever and are zipped, so the smaller one
    cycles. An epoch is the larger domain's training set divided by
    `batch_size`, unless `steps_per_epoch` is given.

    Returns:
        An `UnpairedData`.
    """
    domains = {}
    for flag, folder, domain_seed in (("domain_a", domain_a, seed), ("domain_b", domain_b, seed + 1)):
        scan = data_lib.scan_image_folder(folder)
        train_paths, validation_paths = data_lib.pipeline.split_paths(scan.paths, folder, validation_fraction, seed)
        if not train_paths:
            raise ValueError(f"--{flag} has no training images after the validation split. Received: {flag}={folder}")
        logging.info(
            "Domain %s (%s): %d train, %d validation, %d skipped.",
            flag[-1].upper(),
            folder,
            len(train_paths),
            len(validation_paths),
            len(scan.skipped),
        )
        domains[flag] = (
            _domain_dataset(train_paths, image_size, jitter_scale, domain_seed),
            len(train_paths),
            _monitor_images(train_paths, validation_paths, image_size, num_monitor_images),
        )

    (dataset_a, num_a, monitor_a), (dataset_b, num_b, monitor_b) = domains["domain_a"], domains["domain_b"]
    dataset = tf.data.Dataset.zip((dataset_a, dataset_b))
    # drop_remainder keeps every batch the same size for tf.distribute.
    dataset = dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    if steps_per_epoch is None:
        steps_per_epoch = max(1, max(num_a, num_b) // batch_size)
    return UnpairedData(dataset, steps_per_epoch, (num_a, num_b), monitor_a, monitor_b)


def build_cyclegan(config, image_size, seed=0):
    """Build a `CycleGAN` from a `CycleGANConfig`."""
    return CycleGAN(
        image_size=image_size,
        generator=config.generator,
        num_residual_blocks=config.num_residual_blocks,
        generator_filters=config.generator_filters,
        discriminator_filters=config.discriminator_filters,
        gan_loss=config.gan_loss,
        cycle_weight=config.cycle_weight,
        identity_weight=config.identity_weight,
        pool_size=config.pool_size,
        seed=seed,
    )


def build_optimizers(config, total_steps):
    """Return (generator, discriminator) Adam optimizers sharing one linear-decay schedule config."""
    decay_start_step = int(round(total_steps * config.decay_start_fraction))
    optimizers = []
    for _ in range(2):
        schedule = LinearDecaySchedule(config.learning_rate, total_steps, decay_start_step)
        optimizers.append(keras.optimizers.Adam(schedule, beta_1=config.beta_1))
    return tuple(optimizers)


def check_arguments(epochs, batch_size, image_size, config, steps_per_epoch=None):
    """Raise `ValueError` naming the flag when a value is out of range."""
    rules = [
        ("epochs", epochs, epochs >= 1, "must be >= 1"),
        ("batch_size", batch_size, batch_size >= 1, "must be >= 1"),
        ("image_size", image_size, image_size >= 16 and image_size % 8 == 0, "must be a multiple of 8, at least 16"),
        ("steps_per_epoch", steps_per_epoch, steps_per_epoch is None or steps_per_epoch >= 1, "must be >= 1"),
        ("learning_rate", config.learning_rate, config.learning_rate > 0, "must be > 0"),
        ("cycle_weight", config.cycle_weight, config.cycle_weight >= 0, "must be >= 0"),
        ("identity_weight", config.identity_weight, config.identity_weight >= 0, "must be >= 0"),
        ("pool_size", config.pool_size, config.pool_size >= 0, "must be >= 0"),
        (
            "decay_start_fraction",
            config.decay_start_fraction,
            0.0 <= config.decay_start_fraction <= 1.0,
            "must be in [0, 1]",
        ),
        (
            "num_residual_blocks",
            config.num_residual_blocks,
            config.num_residual_blocks is None or config.num_residual_blocks >= 0,
            "must be >= 0",
        ),
        ("jitter_scale", config.jitter_scale, config.jitter_scale >= 1.0, "must be >= 1.0"),
    ]
    for flag, value, valid, rule in rules:
        if not valid:
            raise ValueError(f"--{flag} {rule}. Received: {flag}={value!r}")
    if config.generator == "unet" and image_size & (image_size - 1):
        raise ValueError(f"--image_size must be a power of two for --generator=unet. Received: image_size={image_size}")


def save_model_atomic(model, path):
    with atomic_write(path) as tmp:
        model.save(tmp)


def cycle_psnr(model, images_a, images_b):
    """Return PSNR in dB of A->B->A against A and of B->A->B against B."""
    cycled_a = translate(model.generator_b2a, translate(model.generator_a2b, images_a))
    cycled_b = translate(model.generator_a2b, translate(model.generator_b2a, images_b))
    return {"a2b": psnr(images_a, cycled_a), "b2a": psnr(images_b, cycled_b)}


def train(
    model_dir,
    domain_a=None,
    domain_b=None,
    epochs=CycleGANConfig.epochs,
    batch_size=CycleGANConfig.batch_size,
    image_size=DataConfig.image_size,
    seed=DataConfig.seed,
    config=None,
    steps_per_epoch=None,
    mixed_precision="float32",
    strategy="default",
    tpu=None,
    checkpoint_every_steps=CycleGANConfig.checkpoint_every_steps,
    keep_checkpoints=CycleGANConfig.keep_checkpoints,
    verbose=0,
):
    """Train a CycleGAN from A to B and write every output under `model_dir`.

    `domain_a`/`domain_b` of None use the offline demo domains (`cartoon` and
    `anime`). Writes `generator_a2b.keras`, `generator_b2a.keras`,
    `cyclegan.keras`, `history.csv`, `learning_curve.png`, `translations.png`,
    `diversity.png` and `metrics.json`, each atomically. `mixed_precision`
    is a policy name for `precision.configure_precision`, and the global
    policy is restored on return. `strategy` and `tpu` go to
    `distribute.get_strategy`, and `batch_size` is the global batch.

    Checkpoints (weights, both optimizers with their schedule position and
    loss scale, both history pools, RNG states) go to `model_dir/checkpoints`
    at every epoch end and every `checkpoint_every_steps` steps, keeping the
    newest `keep_checkpoints`. Calling again with the same `model_dir`
    resumes; see `keras_cartoon.training.resumable`.

    Returns:
        The dict written to `metrics.json`.
    """
    config = config or CycleGANConfig()
    check_arguments(epochs, batch_size, image_size, config, steps_per_epoch)
    for flag, value in (("checkpoint_every_steps", checkpoint_every_steps), ("keep_checkpoints", keep_checkpoints)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"--{flag} must be an integer >= 1. Received: {flag}={value!r}")
    check_output_dir(model_dir, "model_dir")
    previous_policy = keras.mixed_precision.global_policy()
    try:
        precision.configure_precision(mixed_precision)
        return _train(
            pathlib.Path(model_dir),
            domain_a,
            domain_b,
            epochs,
            batch_size,
            image_size,
            seed,
            config,
            steps_per_epoch,
            distribute.get_strategy(strategy, tpu),
            checkpoint_every_steps,
            keep_checkpoints,
            verbose,
        )
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _train(
    model_dir,
    domain_a,
    domain_b,
    epochs,
    batch_size,
    image_size,
    seed,
    config,
    steps_per_epoch,
    strategy,
    checkpoint_every_steps,
    keep_checkpoints,
    verbose,
):
    # Non-chief workers of a multi-worker run write to their own folder.
    model_dir = distribute.output_dir(model_dir, strategy)
    model_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    # The run's epochs and batch size replace the config defaults, so the log is accurate.
    config = dataclasses.replace(config, epochs=epochs, batch_size=batch_size)
    logging.info("CycleGAN config: %s, image_size=%d, seed=%d", dataclasses.asdict(config), image_size, seed)
    if batch_size % strategy.num_replicas_in_sync:
        raise ValueError(
            f"--batch_size must be a multiple of the {strategy.num_replicas_in_sync} replicas. "
            f"Received: batch_size={batch_size}"
        )

    domain_a = domain_a or data_lib.demo_data_dir("cartoon")
    domain_b = domain_b or data_lib.demo_data_dir("anime")
    data = unpaired_datasets(
        domain_a,
        domain_b,
        image_size,
        batch_size,
        seed=seed,
        jitter_scale=config.jitter_scale,
        steps_per_epoch=steps_per_epoch,
        num_monitor_images=config.num_monitor_images,
    )
    total_steps = epochs * data.steps_per_epoch
    logging.info("Training %d epochs of %d steps (%d steps in all).", epochs, data.steps_per_epoch, total_steps)

    with strategy.scope():
        model = build_cyclegan(config, image_size, seed)
        generator_optimizer, discriminator_optimizer = build_optimizers(config, total_steps)
        model.compile(generator_optimizer=generator_optimizer, discriminator_optimizer=discriminator_optimizer)
    optimizers = {"generator": model.generator_optimizer, "discriminator": model.discriminator_optimizer}
    store = checkpointing.CheckpointStore(
        model_dir / "checkpoints",
        checkpointing.training_trackables(model, optimizers, extra={"history_pools": model.history_pool_variables()}),
        keep=keep_checkpoints,
    )
    store.delete_temporary()

    num_grid = min(NUM_GRID_IMAGES, len(data.monitor_a), len(data.monitor_b))
    history_csv = HistoryCSV(model_dir / "history.csv", model_dir / "learning_curve.png", LOSS_KEYS)
    callbacks = [
        DiversityMonitor(
            data.monitor_a,
            data.monitor_b,
            threshold=config.diversity_warning_threshold,
            plot_path=model_dir / "diversity.png",
        ),
        history_csv,
    ]
    logging.info("Initial compilation of the train step can take a minute.")
    state = fit_resumable(
        model,
        data.dataset,
        epochs=epochs,
        steps_per_epoch=data.steps_per_epoch,
        store=store,
        checkpoint_every_steps=checkpoint_every_steps,
        fixed_steps_per_epoch=True,
        callbacks=callbacks,
        # history.csv is rebuilt from the checkpoint, so it never repeats or misses an epoch.
        on_restore=lambda restored: history_csv.restore(restored.history),
        before_save=lambda: distribute.average_non_trainable(model, strategy),
        verbose=verbose,
        shuffle=False,  # each domain is shuffled in the pipeline
    )

    write_translation_grid(model, data.monitor_a[:num_grid], data.monitor_b[:num_grid], model_dir / "translations.png")
    save_model_atomic(model.generator_a2b, model_dir / "generator_a2b.keras")
    save_model_atomic(model.generator_b2a, model_dir / "generator_b2a.keras")
    save_model_atomic(model, model_dir / "cyclegan.keras")

    # The last epoch's logs, restored from the checkpoint when this call trained nothing.
    last_epoch = state.history[max(state.history)]
    cycle = cycle_psnr(model, data.monitor_a, data.monitor_b)
    metrics = {
        direction: {
            "diversity_ratio": last_epoch[f"diversity_{direction}"],
            "cycle_psnr_db": cycle[direction],
        }
        for direction in ("a2b", "b2a")
    }
    metrics["epochs"] = epochs
    metrics["steps_per_epoch"] = data.steps_per_epoch
    metrics["global_steps"] = state.global_step
    metrics["final_losses"] = {key: last_epoch[key] for key in LOSS_KEYS}
    write_text_atomic(model_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    logging.info("Wrote outputs to %s: %s", model_dir, metrics)
    return metrics
