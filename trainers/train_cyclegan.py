"""Train a CycleGAN between two unpaired image folders (default: the offline demo cartoon and anime sets).

Example:
    python -m trainers.train_cyclegan --domain_a=../shared/data/cartoonset \
        --domain_b=../shared/data/anime_faces --model_dir=runs/cyclegan --epochs=10
"""

import dataclasses

from absl import app
from absl import flags
from absl import logging

from keras_cartoon.config import CycleGANConfig
from keras_cartoon.config import DataConfig
from keras_cartoon.training import cyclegan_lib
from keras_cartoon.training.distribute import STRATEGIES
from keras_cartoon.training.checkpointing import CheckpointMismatchError
from keras_cartoon.training.nonfinite import NonFiniteLossError
from keras_cartoon.training.precision import PRECISIONS
from keras_cartoon.training.resumable import PREEMPTED_EXIT_CODE
from keras_cartoon.training.resumable import TrainingPreempted

_DEFAULTS = CycleGANConfig()

_DOMAIN_A = flags.DEFINE_string("domain_a", None, "Folder of domain A images; unset uses the demo cartoon set.")
_DOMAIN_B = flags.DEFINE_string("domain_b", None, "Folder of domain B images; unset uses the demo anime set.")
_MODEL_DIR = flags.DEFINE_string("model_dir", None, "Output folder for models, figures and metrics.", required=True)
_EPOCHS = flags.DEFINE_integer("epochs", _DEFAULTS.epochs, "Training epochs.", lower_bound=1)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size, "Global batch size.", lower_bound=1)
_IMAGE_SIZE = flags.DEFINE_integer("image_size", DataConfig.image_size, "Image height and width in pixels.")
_SEED = flags.DEFINE_integer("seed", DataConfig.seed, "Seed of weights, data order, jitter and pools.")
_STEPS_PER_EPOCH = flags.DEFINE_integer(
    "steps_per_epoch", None, "Batches per epoch; unset uses the larger domain's training set.", lower_bound=1
)
_GENERATOR = flags.DEFINE_enum("generator", _DEFAULTS.generator, ["resnet", "unet"], "Generator architecture.")
_NUM_RESIDUAL_BLOCKS = flags.DEFINE_integer(
    "num_residual_blocks", None, "ResNet blocks; unset uses 6 below 256 pixels and 9 from 256 up.", lower_bound=0
)
_GENERATOR_FILTERS = flags.DEFINE_integer(
    "generator_filters", _DEFAULTS.generator_filters, "Filters of the generators' first conv.", lower_bound=1
)
_DISCRIMINATOR_FILTERS = flags.DEFINE_integer(
    "discriminator_filters", _DEFAULTS.discriminator_filters, "Filters of the discriminators' first conv.", lower_bound=1
)
_GAN_LOSS = flags.DEFINE_enum("gan_loss", _DEFAULTS.gan_loss, ["lsgan", "vanilla", "hinge"], "Adversarial loss.")
_CYCLE_WEIGHT = flags.DEFINE_float("cycle_weight", _DEFAULTS.cycle_weight, "Weight of the cycle L1 loss.")
_IDENTITY_WEIGHT = flags.DEFINE_float(
    "identity_weight", _DEFAULTS.identity_weight, "Identity loss weight as a fraction of --cycle_weight."
)
_POOL_SIZE = flags.DEFINE_integer("pool_size", _DEFAULTS.pool_size, "Fakes kept per discriminator; 0 disables.")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", _DEFAULTS.learning_rate, "Adam learning rate before decay.")
_DECAY_START_FRACTION = flags.DEFINE_float(
    "decay_start_fraction", _DEFAULTS.decay_start_fraction, "Fraction of steps at constant rate before linear decay."
)
_DIVERSITY_WARNING_THRESHOLD = flags.DEFINE_float(
    "diversity_warning_threshold",
    _DEFAULTS.diversity_warning_threshold,
    "Warn about mode collapse when a direction's diversity ratio falls below this.",
)
_MIXED_PRECISION = flags.DEFINE_enum(
    "mixed_precision", "float32", list(PRECISIONS), "Compute precision; auto: mixed_float16 on GPU, mixed_bfloat16 elsewhere."
)
_STRATEGY = flags.DEFINE_enum("strategy", "default", list(STRATEGIES), "tf.distribute strategy.")
_TPU = flags.DEFINE_string("tpu", None, "TPU name or grpc:// address, with --strategy=tpu.")
_CHECKPOINT_EVERY_STEPS = flags.DEFINE_integer(
    "checkpoint_every_steps",
    _DEFAULTS.checkpoint_every_steps,
    "Also save a checkpoint every this many training steps. Unset: at epoch ends only.",
    lower_bound=1,
)
_KEEP_CHECKPOINTS = flags.DEFINE_integer(
    "keep_checkpoints", _DEFAULTS.keep_checkpoints, "Newest checkpoints kept in --model_dir/checkpoints.", lower_bound=1
)

flags.register_multi_flags_validator(
    ["strategy", "tpu"],
    lambda values: not values["tpu"] or values["strategy"] == "tpu",
    message="--tpu needs --strategy=tpu.",
)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(
            f"Unexpected command-line arguments: {' '.join(argv[1:])}. Pass options as --flag=value."
        )
    config = dataclasses.replace(
        _DEFAULTS,
        generator=_GENERATOR.value,
        num_residual_blocks=_NUM_RESIDUAL_BLOCKS.value,
        generator_filters=_GENERATOR_FILTERS.value,
        discriminator_filters=_DISCRIMINATOR_FILTERS.value,
        gan_loss=_GAN_LOSS.value,
        cycle_weight=_CYCLE_WEIGHT.value,
        identity_weight=_IDENTITY_WEIGHT.value,
        pool_size=_POOL_SIZE.value,
        learning_rate=_LEARNING_RATE.value,
        decay_start_fraction=_DECAY_START_FRACTION.value,
        diversity_warning_threshold=_DIVERSITY_WARNING_THRESHOLD.value,
    )
    try:
        cyclegan_lib.train(
            _MODEL_DIR.value,
            domain_a=_DOMAIN_A.value,
            domain_b=_DOMAIN_B.value,
            epochs=_EPOCHS.value,
            batch_size=_BATCH_SIZE.value,
            image_size=_IMAGE_SIZE.value,
            seed=_SEED.value,
            config=config,
            steps_per_epoch=_STEPS_PER_EPOCH.value,
            mixed_precision=_MIXED_PRECISION.value,
            strategy=_STRATEGY.value,
            tpu=_TPU.value,
            checkpoint_every_steps=_CHECKPOINT_EVERY_STEPS.value,
            keep_checkpoints=_KEEP_CHECKPOINTS.value,
            verbose=2,
        )
    except TrainingPreempted as preempted:
        logging.warning("%s", preempted)
        return PREEMPTED_EXIT_CODE
    except (NonFiniteLossError, CheckpointMismatchError) as error:
        # Not a usage mistake: log the message without the flag help.
        logging.error("%s", error)
        return 1
    except ValueError as error:
        # Bad flags and bad data folders: a message, not a traceback.
        raise app.UsageError(str(error)) from error


if __name__ == "__main__":
    app.run(main)
