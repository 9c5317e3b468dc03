"""Train a `CartoonVAE` on an image folder and write the model, figures and metrics."""

import json
import math
import pathlib
import time

import keras
import numpy as np
from absl import logging

from keras_cartoon import metrics as quality
from keras_cartoon.callbacks import VAEMonitor, write_history_csv
from keras_cartoon.config import DataConfig, VAEConfig
from keras_cartoon.data import demo_data_dir, image_folder_datasets, load_images
from keras_cartoon.io_utils import atomic_write, check_output_dir, write_text_atomic
from keras_cartoon.models import CartoonVAE
from keras_cartoon.training import checkpointing
from keras_cartoon.training.distribute import average_non_trainable, get_strategy, log_devices, output_dir
from keras_cartoon.training.precision import configure_precision, wrap_optimizer
from keras_cartoon.training.resumable import fit_resumable

MODEL_FILENAME = "vae.keras"
METRICS_FILENAME = "metrics.json"
CONFIG_FILENAME = "train_config.json"
CHECKPOINT_DIRNAME = "checkpoints"


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


def _check_arguments(
    epochs, batch_size, learning_rate, num_figure_images, validation_fraction, checkpoint_every_steps, keep_checkpoints
):
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("num_figure_images", num_figure_images)
    _check_positive_int("keep_checkpoints", keep_checkpoints)
    if checkpoint_every_steps is not None:
        _check_positive_int("checkpoint_every_steps", checkpoint_every_steps)
    if not (isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"`learning_rate` must be a finite number > 0. Received: learning_rate={learning_rate!r}")
    if not 0 < validation_fraction < 1:
        raise ValueError(
            "`validation_fraction` must be in (0, 1) because the metrics and figures use held-out images. "
            f"Received: validation_fraction={validation_fraction!r}"
        )


class _EpochTimer(keras.callbacks.Callback):
    """Record the wall time of every epoch, validation included, in seconds."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def evaluate_reconstructions(model, dataset):
    """Return mean PSNR (dB) and SSIM of `z_mean` reconstructions over every image of `dataset`."""
    psnr_values, ssim_values = [], []
    for real_images in dataset:
        reconstructed_images = keras.ops.convert_to_numpy(model.reconstruct(real_images))
        real_images = keras.ops.convert_to_numpy(real_images)
        psnr_values.append(quality.psnr(real_images, reconstructed_images, reduction="none"))
        ssim_values.append(quality.ssim(real_images, reconstructed_images, reduction="none"))
    return float(np.mean(np.concatenate(psnr_values))), float(np.mean(np.concatenate(ssim_values)))


def _finite_or_none(name, value):
    """Return `value`, or log an error and return `None` when it is NaN or infinite (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        logging.error("Metric %s is %s: training diverged. Try a lower learning rate.", name, value)
        return None
    return value


def train_vae(
    model_dir,
    data_dir=None,
    epochs=VAEConfig.epochs,
    batch_size=VAEConfig.batch_size,
    image_size=DataConfig.image_size,
    seed=DataConfig.seed,
    preset=VAEConfig.preset,
    latent_dim=VAEConfig.latent_dim,
    encoder_filters=None,
    decoder_filters=None,
    kl_weight=VAEConfig.kl_weight,
    kl_schedule=VAEConfig.kl_schedule,
    kl_warmup_steps=VAEConfig.kl_warmup_steps,
    free_bits=VAEConfig.free_bits,
    reconstruction_loss=VAEConfig.reconstruction_loss,
    learning_rate=VAEConfig.learning_rate,
    center_crop=DataConfig.center_crop_fraction,
    flip=DataConfig.flip,
    validation_fraction=DataConfig.validation_fraction,
    mixed_precision=VAEConfig.mixed_precision,
    strategy=VAEConfig.strategy,
    tpu=None,
    num_figure_images=VAEConfig.num_figure_images,
    checkpoint_every_steps=VAEConfig.checkpoint_every_steps,
    keep_checkpoints=VAEConfig.keep_checkpoints,
    verbose="auto",
):
    """Train a `CartoonVAE` and write its outputs to `model_dir`.

    Writes `vae.keras`, `metrics.json`, `train_config.json`, and the
    `VAEMonitor` files (learning_curve.png, reconstructions.png, samples.png,
    history.csv) plus TensorBoard logs under `logs/`. Every file is replaced
    atomically. Checkpoints go to `checkpoints/`; calling again with the same
    `model_dir` resumes from the newest one (see
    `keras_cartoon.training.resumable`), so use a new `model_dir` to start over.

    Args:
        model_dir: output folder, created if missing.
        data_dir: folder of images, or `None` for the offline demo set
            (`demo_data_dir("cartoon")`).
        center_crop: fraction of the shorter side kept by a centre crop, or `None`.
        mixed_precision: `"float32"`, `"mixed_float16"`, `"mixed_bfloat16"` or `"auto"`.
            The global Keras policy is restored on return.
        strategy, tpu: see `keras_cartoon.training.distribute.get_strategy`.
            `batch_size` is the global batch, split evenly over the replicas.
        checkpoint_every_steps: save a checkpoint every this many steps, as
            well as at every epoch end; `None` saves at epoch ends only.
        keep_checkpoints: newest checkpoints kept in `model_dir/checkpoints`.
        verbose: passed to `fit`; `"auto"` shows Keras's progress bar.
        Other arguments: see `CartoonVAE` and `image_folder_datasets`.

    Returns:
        The metrics dict also written to metrics.json: held-out
        `reconstruction_psnr` (dB) and `reconstruction_ssim`, the validation
        `loss`, `reconstruction_loss` and `kl_loss`, image counts and timings.
    """
    _check_arguments(
        epochs, batch_size, learning_rate, num_figure_images, validation_fraction, checkpoint_every_steps, keep_checkpoints
    )
    check_output_dir(model_dir, "model_dir")
    model_dir = pathlib.Path(model_dir)
    model_kwargs = dict(
        image_size=image_size,
        preset=preset,
        encoder_filters=encoder_filters,
        decoder_filters=decoder_filters,
        latent_dim=latent_dim,
        kl_weight=kl_weight,
        kl_schedule=kl_schedule,
        kl_warmup_steps=kl_warmup_steps,
        free_bits=free_bits,
        reconstruction_loss=reconstruction_loss,
        seed=seed,
    )
    run_config = dict(
        model_kwargs,
        model_dir=str(model_dir),
        data_dir=None if data_dir is None else str(data_dir),
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        center_crop=center_crop,
        flip=flip,
        validation_fraction=validation_fraction,
        mixed_precision=mixed_precision,
        strategy=strategy,
        tpu=tpu,
        checkpoint_every_steps=checkpoint_every_steps,
        keep_checkpoints=keep_checkpoints,
    )
    logging.info("VAE training config: %s", json.dumps(run_config, sort_keys=True))
    log_devices()
    keras.utils.set_random_seed(seed)

    previous_policy = keras.mixed_precision.global_policy()
    try:
        run_config["precision_policy"] = configure_precision(mixed_precision)
        return _train(model_dir, data_dir, model_kwargs, run_config, num_figure_images, verbose)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _train(model_dir, data_dir, model_kwargs, run_config, num_figure_images, verbose):
    distribution = get_strategy(run_config["strategy"], run_config["tpu"])
    num_replicas = distribution.num_replicas_in_sync
    if run_config["batch_size"] % num_replicas:
        raise ValueError(
            f"`batch_size` is the global batch and must be a multiple of the {num_replicas} replicas. "
            f"Received: batch_size={run_config['batch_size']}"
        )
    # Non-chief workers of a multi-worker run write to their own folder.
    model_dir = output_dir(model_dir, distribution)

    # === Data ===
    if data_dir is None:
        data_dir = demo_data_dir("cartoon")
        logging.info("No data_dir given: training on the offline demo set in %s.", data_dir)
    # With several replicas every global batch must split evenly, so the last
    # partial batch of an epoch is dropped (the shuffle changes which images).
    drop_remainder = num_replicas > 1
    split = image_folder_datasets(
        data_dir,
        image_size=run_config["image_size"],
        batch_size=run_config["batch_size"],
        validation_fraction=run_config["validation_fraction"],
        seed=run_config["seed"],
        center_crop_fraction=run_config["center_crop"],
        flip=run_config["flip"],
        drop_remainder=drop_remainder,
    )
    validation = split.validation
    if drop_remainder:
        # A partial batch gives some workers no images, and the collectives then fail.
        if len(split.validation_paths) < run_config["batch_size"]:
            raise ValueError(
                f"With {num_replicas} replicas the {len(split.validation_paths)} validation images must fill "
                "at least one global batch. Lower `batch_size` or raise `validation_fraction`. "
                f"Received: batch_size={run_config['batch_size']}, "
                f"validation_fraction={run_config['validation_fraction']}"
            )
        validation = validation.unbatch().batch(run_config["batch_size"], drop_remainder=True)
    num_train = len(split.train_paths)
    rounding = math.floor if drop_remainder else math.ceil
    steps_per_epoch = rounding(num_train / run_config["batch_size"])
    figure_images = load_images(
        split.validation_paths[:num_figure_images], run_config["image_size"], run_config["center_crop"]
    )

    # === Model ===
    with distribution.scope():
        model = CartoonVAE(**model_kwargs)
        model.compile(optimizer=wrap_optimizer(keras.optimizers.Adam(run_config["learning_rate"])))
        # Built now so its slots exist for the checkpoint and inside the strategy scope.
        model.optimizer.build(model.trainable_variables)
    model_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(model_dir / CONFIG_FILENAME, json.dumps(run_config, indent=2, sort_keys=True) + "\n")
    store = checkpointing.CheckpointStore(
        model_dir / CHECKPOINT_DIRNAME,
        checkpointing.training_trackables(model, {"vae": model.optimizer}),
        keep=run_config["keep_checkpoints"],
    )
    store.delete_temporary()

    # === Training ===
    timer = _EpochTimer()
    callbacks = [
        timer,
        VAEMonitor(model_dir, figure_images, seed=run_config["seed"], log_dir=model_dir / "logs"),
        keras.callbacks.TensorBoard(log_dir=str(model_dir / "logs"), write_graph=False),
    ]
    logging.info(
        "Training for %d epochs of %d steps; the first step compiles the graph and is slower.",
        run_config["epochs"],
        steps_per_epoch,
    )
    state = fit_resumable(
        model,
        split.train,
        epochs=run_config["epochs"],
        steps_per_epoch=steps_per_epoch,
        store=store,
        checkpoint_every_steps=run_config["checkpoint_every_steps"],
        callbacks=callbacks,
        # history.csv is rebuilt from the checkpoint, so it never repeats or misses an epoch.
        on_restore=lambda restored: write_history_csv(model_dir / "history.csv", restored.history),
        before_save=lambda: average_non_trainable(model, distribution),
        validation_data=validation,
        verbose=verbose,
        # The training dataset reshuffles itself every epoch.
        shuffle=False,
    )

    with atomic_write(model_dir / MODEL_FILENAME) as tmp:
        model.save(tmp)
    logging.info("Saved %s", model_dir / MODEL_FILENAME)

    # === Held-out metrics ===
    validation_losses = model.evaluate(validation, return_dict=True, verbose=0)
    psnr, ssim = evaluate_reconstructions(model, split.validation)
    results = {
        "reconstruction_psnr": psnr,
        "reconstruction_ssim": ssim,
        "validation_loss": float(validation_losses["loss"]),
        "validation_reconstruction_loss": float(validation_losses["reconstruction_loss"]),
        "validation_kl_loss": float(validation_losses["kl_loss"]),
        "num_train_images": num_train,
        "num_validation_images": len(split.validation_paths),
        "num_skipped_files": len(split.skipped),
        "epochs_completed": state.epoch,
        "global_steps": state.global_step,
        # Epochs run by this process only: a resumed run omits earlier ones.
        "epoch_seconds": [round(s, 3) for s in timer.seconds],
        # Training images over the last epoch's wall time, validation included.
        # Unlike the first epoch, the last one excludes graph tracing.
        "train_images_per_second": num_train / timer.seconds[-1] if timer.seconds else None,
    }
    results = {name: _finite_or_none(name, value) for name, value in results.items()}
    write_text_atomic(model_dir / METRICS_FILENAME, json.dumps(results, indent=2, allow_nan=False) + "\n")
    logging.info("Held-out metrics: %s", json.dumps(results))
    return results
