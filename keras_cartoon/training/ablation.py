"""Compare the baseline VAE with the remedies for blurry faces at an equal wall-clock budget.

Each configuration trains on the same split (a held-out tenth by default) for
the same `time_budget_s` seconds, or for `epochs` epochs when no budget is
given, then is scored on the held-out images with every metric of
`keras_cartoon.metrics`. The `long` configuration resumes the saved baseline
from its `.keras` file for more rounds of the same budget, so it measures
what longer training alone buys. Outputs: `ablation.md`, `ablation.json`,
`samples.png`, `reconstructions.png` and one folder per configuration with
its `vae.keras` and latent figures (`latent/`).
"""

import json
import pathlib
import time

import keras
import numpy as np
from absl import logging

from keras_cartoon import metrics as quality
from keras_cartoon.config import DataConfig, VAEConfig
from keras_cartoon.data import image_folder_datasets, load_images
from keras_cartoon.io_utils import atomic_write, check_output_dir, load_model_safely, write_text_atomic
from keras_cartoon.kl_schedules import kl_weight_at
from keras_cartoon.latent import decode_latents, save_latent_figures
from keras_cartoon.models import CartoonVAE
from keras_cartoon.visualize import save_image_grid

# Remedy name -> CartoonVAE arguments that differ from the baseline, and a description.
ABLATION_CONFIGS = {
    "baseline": ({}, "fixed baseline architecture, beta 1"),
    "wide": ({"preset": "wide"}, "4x to 32x the channels"),
    "resnet": ({"preset": "resnet"}, "wide plus a residual block per stage"),
    "kl_strong": ({"kl_weight": 2.0}, "baseline, beta 2"),
    "kl_annealed": ({"kl_schedule": "linear"}, "baseline, beta warmed up linearly from 0 to 1"),
    "long": ({}, "baseline resumed from its .keras file for more budget rounds"),
}
DEFAULT_CONFIGS = tuple(ABLATION_CONFIGS)
MODEL_FILENAME = "vae.keras"


class TimeBudget(keras.callbacks.Callback):
    """Stop `fit` after the first batch that ends past `budget_s` seconds of training.

    The clock starts at `on_train_begin`, so graph tracing counts against the
    budget the same way for every configuration. It records the seconds used
    and the epochs that ran, whole or cut short.
    """

    def __init__(self, budget_s=None):
        super().__init__()
        self.budget_s = budget_s
        self.seconds = 0.0
        self.epochs_run = 0

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs_run += 1

    def on_train_batch_end(self, batch, logs=None):
        self.seconds = time.perf_counter() - self._start
        if self.budget_s is not None and self.seconds >= self.budget_s:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self._start


def _fit_round(model, train_dataset, epochs, initial_epoch, budget_s):
    """Run `fit` until the budget or `epochs` runs out and return `(seconds, epochs_run)`."""
    timer = TimeBudget(budget_s)
    model.fit(
        train_dataset,
        epochs=initial_epoch + epochs,
        initial_epoch=initial_epoch,
        callbacks=[timer, keras.callbacks.TerminateOnNaN()],
        verbose=0,
    )
    return timer.seconds, timer.epochs_run


def has_diverged(model):
    """Return True when any weight is NaN or infinite, as after `TerminateOnNaN` stops a run."""
    return not all(np.all(np.isfinite(keras.ops.convert_to_numpy(weight))) for weight in model.weights)


def _save(model, path):
    with atomic_write(path) as tmp:
        model.save(tmp)


def train_config(name, model_kwargs, train_dataset, run_dir, epochs, time_budget_s, learning_rate, seed):
    """Build, compile and train one configuration, then save it to `run_dir/vae.keras`."""
    keras.utils.set_random_seed(seed)
    model = CartoonVAE(**model_kwargs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    logging.info("Training %s: %s", name, json.dumps(model_kwargs, sort_keys=True))
    seconds, epochs_run = _fit_round(model, train_dataset, epochs, 0, time_budget_s)
    _save(model, run_dir / MODEL_FILENAME)
    return model, {"train_seconds": seconds, "epochs": epochs_run, "steps": int(model.optimizer.iterations)}


def resume_rounds(start_path, train_dataset, run_dir, num_rounds, epochs, time_budget_s, start_record):
    """Resume the model in `start_path` for `num_rounds` rounds, reloading each round from the last save.

    Every round loads the latest `.keras` file (weights and optimizer state,
    so the step count and KL schedule continue), trains one more budget and
    saves atomically, as a preempted long run would.
    """
    path = pathlib.Path(start_path)
    record = dict(start_record)
    for round_index in range(num_rounds):
        model = load_model_safely(path)
        steps_before = int(model.optimizer.iterations)
        seconds, epochs_run = _fit_round(model, train_dataset, epochs, record["epochs"], time_budget_s)
        path = run_dir / MODEL_FILENAME
        _save(model, path)
        record["train_seconds"] += seconds
        record["epochs"] += epochs_run
        record["steps"] = int(model.optimizer.iterations)
        logging.info(
            "Resume round %d: optimizer step %d -> %d, %.1f s.", round_index + 1, steps_before, record["steps"], seconds
        )
    return model, record


def evaluate_config(model, held_out, train_images, num_samples, seed, reference=None):
    """Score one trained VAE on held-out images and return a dict of metric name -> float.

    `reference` caches the diversity and NDB bins of the real images across
    configurations (filled on the first call).
    """
    reference = reference if reference is not None else {}
    if "real_diversity" not in reference:
        reference["real_diversity"] = quality.diversity(held_out, max_pairs=500, seed=seed)
        num_bins = max(2, min(20, len(train_images) // 5))
        reference["ndb"] = quality.NDB(train_images, num_bins=num_bins, seed=seed)

    final_kl_weight = kl_weight_at(
        model.optimizer.iterations, model.kl_weight, model.kl_schedule, model.kl_warmup_steps
    )
    likelihood = quality.vae_metrics.LIKELIHOOD_OF_LOSS[model.reconstruction_loss]
    elbo = quality.negative_elbo(model, held_out, likelihood=likelihood, seed=seed)
    elbo_fitted = quality.negative_elbo(
        model, held_out, likelihood=likelihood, decoder_variance="fitted", laplace_scale="fitted", seed=seed
    )
    z_mean, z_log_var = quality.encode_dataset(model, held_out)
    num_active, _ = quality.active_units(z_mean)
    reconstructions = decode_latents(model, z_mean)
    prior_z = np.random.default_rng(seed).standard_normal((num_samples, model.latent_dim))
    samples = decode_latents(model, prior_z)
    ndb = reference["ndb"].evaluate(samples)
    return {
        "final_kl_weight": float(final_kl_weight),
        "negative_elbo_nats": elbo.negative_elbo_nats,
        "bits_per_dim": elbo.bits_per_dim,
        "bits_per_dim_fitted_variance": elbo_fitted.bits_per_dim,
        "kl_nats": elbo.kl_nats,
        "active_units": num_active,
        "max_kl_per_dim_nats": float(quality.kl_per_dimension(z_mean, z_log_var).max()),
        "psnr_db": quality.psnr(held_out, reconstructions),
        "ssim": quality.ssim(held_out, reconstructions),
        "ms_ssim": quality.ms_ssim(held_out, reconstructions),
        "reconstruction_sharpness_ratio": quality.sharpness_ratio(reconstructions, held_out),
        "sample_sharpness_ratio": quality.sharpness_ratio(samples, held_out),
        "sample_diversity_ratio": quality.diversity(samples[: len(held_out)], max_pairs=500, seed=seed)
        / reference["real_diversity"],
        "ndb_ratio": ndb.ndb_ratio,
        "ndb_jsd": ndb.jsd,
    }


# Column key -> (header, format) of the ablation.md table.
TABLE_COLUMNS = {
    "train_seconds": ("train s", "{:.0f}"),
    "epochs": ("epochs", "{:d}"),
    "steps": ("steps", "{:d}"),
    "final_kl_weight": ("final beta", "{:.2f}"),
    "negative_elbo_nats": ("-ELBO nats", "{:.1f}"),
    "bits_per_dim": ("bits/dim", "{:.3f}"),
    "bits_per_dim_fitted_variance": ("bits/dim, fitted var.", "{:.3f}"),
    "kl_nats": ("KL nats", "{:.1f}"),
    "active_units": ("active units", "{:d}"),
    "psnr_db": ("PSNR dB", "{:.2f}"),
    "ssim": ("SSIM", "{:.3f}"),
    "ms_ssim": ("MS-SSIM", "{:.3f}"),
    "reconstruction_sharpness_ratio": ("recon. sharpness", "{:.3f}"),
    "sample_sharpness_ratio": ("sample sharpness", "{:.3f}"),
    "sample_diversity_ratio": ("diversity ratio", "{:.3f}"),
    "ndb_ratio": ("NDB/K", "{:.2f}"),
    "ndb_jsd": ("JSD", "{:.3f}"),
}


def format_report(results, settings):
    """Render `ablation.md`: the settings, one table row per configuration and what each column means."""
    header = ["config", "change"] + [label for label, _ in TABLE_COLUMNS.values()]
    lines = [
        "# VAE ablation: remedies for blurry faces",
        "",
        "Settings: " + ", ".join(f"{key}={value}" for key, value in sorted(settings.items())) + ".",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for name, row in results.items():
        cells = [name, ABLATION_CONFIGS[name][1]]
        for key, (_, fmt) in TABLE_COLUMNS.items():
            cells.append(fmt.format(row[key]) if key in row else "diverged")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "All metrics are on the held-out images. -ELBO assumes the likelihood of the training loss",
        "(Gaussian with variance 0.5 on [-1, 1] for the SSE loss), so its absolute value depends on",
        "that assumption. Only differences between rows are meaningful. The fitted-variance column",
        "uses the maximum-likelihood variance of the held-out errors instead. Active units: latent dims",
        "whose posterior mean has variance > 0.01 over the held-out images. Sharpness ratios:",
        "Laplacian variance of reconstructions or samples over that of real images (1 = as sharp",
        "as the data). Diversity ratio: mean pairwise 1 - MS-SSIM of samples over that of real",
        "images. NDB/K and JSD: k-means bins on the training images (lower is closer). `long`",
        "trains for several budgets in total, so its row is not an equal-budget comparison.",
        "",
        "Figures: `samples.png` and `reconstructions.png` have one row per configuration that did",
        "not diverge, in the table's order. The first row of `reconstructions.png` is the real",
        "held-out images. A diverged configuration got NaN weights and stopped early.",
        "",
    ]
    return "\n".join(lines)


def run_ablation(
    output_dir,
    data_dir,
    configs=DEFAULT_CONFIGS,
    epochs=VAEConfig.epochs,
    time_budget_s=None,
    long_rounds=2,
    image_size=DataConfig.image_size,
    batch_size=VAEConfig.batch_size,
    latent_dim=VAEConfig.latent_dim,
    learning_rate=VAEConfig.learning_rate,
    kl_warmup_steps=VAEConfig.kl_warmup_steps,
    center_crop=DataConfig.center_crop_fraction,
    validation_fraction=DataConfig.validation_fraction,
    num_samples=None,
    num_figure_images=VAEConfig.num_figure_images,
    seed=DataConfig.seed,
):
    """Train and score every configuration in `configs`, then write the report and figures to `output_dir`.

    Args:
        output_dir: folder for ablation.md, ablation.json, samples.png,
            reconstructions.png and one `<config>/vae.keras` per configuration.
        data_dir: folder of training images.
        configs: names from `ABLATION_CONFIGS`. `long` needs `baseline` before it.
        epochs: int. Epoch cap per configuration (per round for `long`).
        time_budget_s: float or None. Training seconds per configuration. The
            budget, not `epochs`, then sets the comparison. None: epochs only.
        long_rounds: int. Extra budget rounds that `long` resumes the baseline for.
        num_samples: int or None. Prior samples scored per configuration.
            None: as many as there are training images (NDB needs a comparable count).
        Other arguments: see `CartoonVAE` and `image_folder_datasets`.

    Returns:
        dict of configuration name -> metric dict (also in ablation.json).
    """
    configs = list(configs)
    unknown = [name for name in configs if name not in ABLATION_CONFIGS]
    if unknown or not configs:
        raise ValueError(
            f"configs must be a non-empty subset of {list(ABLATION_CONFIGS)}. Received: configs={configs}"
        )
    if "long" in configs and ("baseline" not in configs or configs.index("long") < configs.index("baseline")):
        raise ValueError(
            f"The `long` configuration resumes `baseline`, so baseline must come first. Received: configs={configs}"
        )
    if long_rounds < 1:
        raise ValueError(f"long_rounds must be at least 1. Received: long_rounds={long_rounds}")
    if time_budget_s is not None and not time_budget_s > 0:
        raise ValueError(f"time_budget_s must be positive or None. Received: time_budget_s={time_budget_s}")
    check_output_dir(output_dir, "output_dir")
    output_dir = pathlib.Path(output_dir)
    settings = dict(
        data_dir=str(data_dir),
        image_size=image_size,
        batch_size=batch_size,
        epochs=epochs,
        time_budget_s=time_budget_s,
        long_rounds=long_rounds,
        latent_dim=latent_dim,
        learning_rate=learning_rate,
        kl_warmup_steps=kl_warmup_steps,
        center_crop=center_crop,
        seed=seed,
    )
    logging.info("Ablation settings: %s", json.dumps(settings, sort_keys=True))

    # === Data: one split for every configuration ===
    split = image_folder_datasets(
        data_dir,
        image_size=image_size,
        batch_size=batch_size,
        validation_fraction=validation_fraction,
        seed=seed,
        center_crop_fraction=center_crop,
    )
    if len(split.validation_paths) < 2:
        raise ValueError(
            "The ablation needs at least 2 held-out images. Add images or raise validation_fraction. "
            f"Received: {len(split.validation_paths)} held-out images in {data_dir}"
        )
    held_out = load_images(split.validation_paths, image_size, center_crop)
    train_images = load_images(split.train_paths, image_size, center_crop)
    num_samples = num_samples or len(train_images)
    settings.update(num_train_images=len(train_images), num_held_out_images=len(held_out), num_samples=num_samples)

    # === Train and score ===
    results, models, reference = {}, {}, {}
    base_kwargs = dict(image_size=image_size, latent_dim=latent_dim, kl_warmup_steps=kl_warmup_steps, seed=seed)
    for name in configs:
        run_dir = output_dir / name
        if name == "long":
            baseline_record = {key: results["baseline"][key] for key in ("train_seconds", "epochs", "steps")}
            model, record = resume_rounds(
                output_dir / "baseline" / MODEL_FILENAME,
                split.train,
                run_dir,
                long_rounds,
                epochs,
                time_budget_s,
                baseline_record,
            )
        else:
            model_kwargs = dict(base_kwargs, **ABLATION_CONFIGS[name][0])
            model, record = train_config(
                name, model_kwargs, split.train, run_dir, epochs, time_budget_s, learning_rate, seed
            )
        results[name] = record
        if has_diverged(model):
            # A diverged row stays in the report, so a remedy that blows up is visible, not dropped.
            record["diverged"] = True
            logging.error("Ablation %s diverged (NaN weights) by step %d, so it gets no metrics.", name, record["steps"])
            continue
        record.update(evaluate_config(model, held_out, train_images, num_samples, seed, reference))
        if len(held_out) >= 4:
            save_latent_figures(model, held_out, run_dir / "latent")
        models[name] = model
        logging.info("Ablation %s: %s", name, json.dumps(record, sort_keys=True))

    # === Figures and report ===
    figure_images = held_out[:num_figure_images]
    if models:
        save_image_grid(
            output_dir / "samples.png",
            [keras.ops.convert_to_numpy(m.sample(num_figure_images, seed=seed)) for m in models.values()],
        )
        save_image_grid(
            output_dir / "reconstructions.png",
            [figure_images] + [keras.ops.convert_to_numpy(m.reconstruct(figure_images)) for m in models.values()],
        )
    write_text_atomic(output_dir / "ablation.json", json.dumps({"settings": settings, "results": results}, indent=2) + "\n")
    write_text_atomic(output_dir / "ablation.md", format_report(results, settings))
    logging.info("Wrote %s", output_dir / "ablation.md")
    return results
