"""Compare the baseline VAE with its remedies for blurry faces at equal wall-clock time.

Example:
    python -m trainers.ablate_vae --data_dir=../shared/data/cartoonset \\
        --output_dir=runs/ablation --epochs=1000 --time_budget_s=120

Writes ablation.md (one table row per configuration), ablation.json,
samples.png, reconstructions.png and <config>/vae.keras to --output_dir.
"""

from absl import app, flags, logging

from keras_cartoon.config import DataConfig, VAEConfig

# Kept in step with keras_cartoon.training.ablation.ABLATION_CONFIGS (a test
# checks it), because importing that module loads TensorFlow and slows --help.
_CONFIG_NAMES = ["baseline", "wide", "resnet", "kl_strong", "kl_annealed", "long"]

_DATA_DIR = flags.DEFINE_string("data_dir", None, "Folder of training images.", required=True)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Folder for the report, figures and models.", required=True)
_EPOCHS = flags.DEFINE_integer(
    "epochs", VAEConfig.epochs, "Epoch cap per configuration (per round for `long`).", lower_bound=1
)
_TIME_BUDGET_S = flags.DEFINE_float(
    "time_budget_s",
    None,
    "Training seconds per configuration. Training stops after the batch that passes it. Unset: --epochs only.",
)
_CONFIGS = flags.DEFINE_list("configs", _CONFIG_NAMES, f"Configurations to run, in order, from {_CONFIG_NAMES}.")
_LONG_ROUNDS = flags.DEFINE_integer(
    "long_rounds", 2, "Extra budget rounds that `long` resumes the baseline for.", lower_bound=1
)
_IMAGE_SIZE = flags.DEFINE_integer("image_size", DataConfig.image_size, "Image side in pixels, a multiple of 16.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", VAEConfig.batch_size, "Batch size, in images.", lower_bound=1)
_LATENT_DIM = flags.DEFINE_integer("latent_dim", VAEConfig.latent_dim, "Size of the latent vector z.", lower_bound=1)
_LEARNING_RATE = flags.DEFINE_float("learning_rate", VAEConfig.learning_rate, "Adam learning rate.")
_KL_WARMUP_STEPS = flags.DEFINE_integer(
    "kl_warmup_steps", VAEConfig.kl_warmup_steps, "Steps of the linear beta warm-up of kl_annealed.", lower_bound=0
)
_CENTER_CROP = flags.DEFINE_float(
    "center_crop", DataConfig.center_crop_fraction, "Fraction of the shorter side kept by a centre crop, in (0, 1]."
)
_NUM_SAMPLES = flags.DEFINE_integer(
    "num_samples", None, "Prior samples scored per configuration. Unset: one per training image.", lower_bound=2
)
_SEED = flags.DEFINE_integer("seed", DataConfig.seed, "Seed of the split, weights and samples.")

flags.register_validator(
    "configs",
    lambda names: bool(names) and all(name in _CONFIG_NAMES for name in names),
    message=f"--configs must list names from {_CONFIG_NAMES}.",
)
flags.register_validator(
    "time_budget_s", lambda value: value is None or value > 0, message="--time_budget_s must be greater than 0."
)
flags.register_validator(
    "image_size",
    lambda value: value >= 16 and value % 16 == 0,
    message="--image_size must be a positive multiple of 16 (the VAE halves it 4 times).",
)
flags.register_validator("learning_rate", lambda value: value > 0, message="--learning_rate must be greater than 0.")
flags.register_validator(
    "center_crop", lambda value: value is None or 0 < value <= 1, message="--center_crop must be in (0, 1]."
)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected command-line arguments: {' '.join(argv[1:])}")

    # Imported here so that --help runs without loading TensorFlow.
    from keras_cartoon.data import ImageDecodeError
    from keras_cartoon.training.ablation import run_ablation

    try:
        run_ablation(
            output_dir=_OUTPUT_DIR.value,
            data_dir=_DATA_DIR.value,
            configs=_CONFIGS.value,
            epochs=_EPOCHS.value,
            time_budget_s=_TIME_BUDGET_S.value,
            long_rounds=_LONG_ROUNDS.value,
            image_size=_IMAGE_SIZE.value,
            batch_size=_BATCH_SIZE.value,
            latent_dim=_LATENT_DIM.value,
            learning_rate=_LEARNING_RATE.value,
            kl_warmup_steps=_KL_WARMUP_STEPS.value,
            center_crop=_CENTER_CROP.value,
            num_samples=_NUM_SAMPLES.value,
            seed=_SEED.value,
        )
    except (ValueError, FileNotFoundError, ImageDecodeError) as error:
        logging.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    app.run(main)
