"""Train the cartoon-face VAE.

Example:
    python -m trainers.train_vae --model_dir=runs/vae --epochs=1
    python -m trainers.train_vae --data_dir=../shared/data/cartoonset \\
        --model_dir=runs/vae_wide --preset=wide --kl_schedule=linear --center_crop=0.7

Writes vae.keras, metrics.json, learning_curve.png, reconstructions.png,
samples.png, history.csv and TensorBoard logs (logs/) to --model_dir, and
checkpoints to --model_dir/checkpoints. Rerunning the same command resumes
from the newest checkpoint. On SIGTERM the trainer saves a checkpoint and
exits with status 143.
"""

from absl import app, flags, logging

from keras_cartoon.config import DataConfig, VAEConfig
from keras_cartoon.data import ImageDecodeError
from keras_cartoon.kl_schedules import KL_SCHEDULES
from keras_cartoon.losses import RECONSTRUCTION_LOSSES
from keras_cartoon.models.vae_presets import VAE_PRESETS
from keras_cartoon.training.distribute import STRATEGIES
from keras_cartoon.training.precision import PRECISIONS
from keras_cartoon.training.resumable import PREEMPTED_EXIT_CODE, TrainingPreempted
from keras_cartoon.training.vae_lib import train_vae

_DATA_DIR = flags.DEFINE_string("data_dir", None, "Folder of training images. Unset: the offline demo set.")
_MODEL_DIR = flags.DEFINE_string("model_dir", None, "Output folder for the model, figures and metrics.", required=True)
_EPOCHS = flags.DEFINE_integer("epochs", VAEConfig.epochs, "Passes over the training images.", lower_bound=1)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", VAEConfig.batch_size, "Global batch size, in images.", lower_bound=1)
_IMAGE_SIZE = flags.DEFINE_integer("image_size", DataConfig.image_size, "Image side in pixels; a multiple of 16.")
_SEED = flags.DEFINE_integer("seed", DataConfig.seed, "Seed of the split, shuffling, weights and figure samples.")
_PRESET = flags.DEFINE_enum("preset", VAEConfig.preset, sorted(VAE_PRESETS), "VAE architecture.")
_LATENT_DIM = flags.DEFINE_integer("latent_dim", VAEConfig.latent_dim, "Size of the latent vector z.", lower_bound=1)
_KL_WEIGHT = flags.DEFINE_float("kl_weight", VAEConfig.kl_weight, "Weight (beta) of the KL term.", lower_bound=0.0)
_KL_SCHEDULE = flags.DEFINE_enum(
    "kl_schedule", VAEConfig.kl_schedule, list(KL_SCHEDULES), "How beta changes with the training step."
)
_KL_WARMUP_STEPS = flags.DEFINE_integer(
    "kl_warmup_steps", VAEConfig.kl_warmup_steps, "Steps of each linear rise of beta.", lower_bound=0
)
_FREE_BITS = flags.DEFINE_float(
    "free_bits", VAEConfig.free_bits, "KL floor in nats per latent dimension; 0 turns it off.", lower_bound=0.0
)
_RECONSTRUCTION_LOSS = flags.DEFINE_enum(
    "reconstruction_loss", VAEConfig.reconstruction_loss, list(RECONSTRUCTION_LOSSES), "Per-image reconstruction loss."
)
_LEARNING_RATE = flags.DEFINE_float("learning_rate", VAEConfig.learning_rate, "Adam learning rate.")
_CENTER_CROP = flags.DEFINE_float(
    "center_crop",
    DataConfig.center_crop_fraction,
    "Fraction of the shorter side kept by a centre crop before resizing, in (0, 1]. Unset: no crop.",
)
_FLIP = flags.DEFINE_bool("flip", DataConfig.flip, "Randomly flip training images left-right.")
_MIXED_PRECISION = flags.DEFINE_enum(
    "mixed_precision",
    VAEConfig.mixed_precision,
    list(PRECISIONS),
    "Compute precision; auto: mixed_float16 on GPU, mixed_bfloat16 elsewhere.",
)
_STRATEGY = flags.DEFINE_enum("strategy", VAEConfig.strategy, list(STRATEGIES), "tf.distribute strategy.")
_TPU = flags.DEFINE_string("tpu", None, "TPU name or grpc:// address, with --strategy=tpu.")
_CHECKPOINT_EVERY_STEPS = flags.DEFINE_integer(
    "checkpoint_every_steps",
    VAEConfig.checkpoint_every_steps,
    "Also save a checkpoint every this many training steps. Unset: at epoch ends only.",
    lower_bound=1,
)
_KEEP_CHECKPOINTS = flags.DEFINE_integer(
    "keep_checkpoints", VAEConfig.keep_checkpoints, "Newest checkpoints kept in --model_dir/checkpoints.", lower_bound=1
)

flags.register_validator(
    "image_size",
    lambda value: value >= 16 and value % 16 == 0,
    message="--image_size must be a positive multiple of 16 (the VAE halves it 4 times).",
)
flags.register_validator(
    "learning_rate", lambda value: value > 0, message="--learning_rate must be greater than 0."
)
flags.register_validator(
    "center_crop",
    lambda value: value is None or 0 < value <= 1,
    message="--center_crop must be in (0, 1].",
)
flags.register_multi_flags_validator(
    ["strategy", "tpu"],
    lambda values: not values["tpu"] or values["strategy"] == "tpu",
    message="--tpu needs --strategy=tpu.",
)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected command-line arguments: {' '.join(argv[1:])}")

    try:
        train_vae(
            model_dir=_MODEL_DIR.value,
            data_dir=_DATA_DIR.value,
            epochs=_EPOCHS.value,
            batch_size=_BATCH_SIZE.value,
            image_size=_IMAGE_SIZE.value,
            seed=_SEED.value,
            preset=_PRESET.value,
            latent_dim=_LATENT_DIM.value,
            kl_weight=_KL_WEIGHT.value,
            kl_schedule=_KL_SCHEDULE.value,
            kl_warmup_steps=_KL_WARMUP_STEPS.value,
            free_bits=_FREE_BITS.value,
            reconstruction_loss=_RECONSTRUCTION_LOSS.value,
            learning_rate=_LEARNING_RATE.value,
            center_crop=_CENTER_CROP.value,
            flip=_FLIP.value,
            mixed_precision=_MIXED_PRECISION.value,
            strategy=_STRATEGY.value,
            tpu=_TPU.value,
            checkpoint_every_steps=_CHECKPOINT_EVERY_STEPS.value,
            keep_checkpoints=_KEEP_CHECKPOINTS.value,
        )
    except TrainingPreempted as preempted:
        logging.warning("%s", preempted)
        return PREEMPTED_EXIT_CODE
    except (ValueError, FileNotFoundError, ImageDecodeError) as error:
        # Bad input, a diverged run (NonFiniteLossError) or a mismatched checkpoint.
        logging.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    app.run(main)
