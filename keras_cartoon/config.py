"""Default hyperparameters for every model and trainer, in one place.

Trainers read their flag defaults from these dataclasses, and the Python API
uses them as keyword defaults, so a value changes here and nowhere else.
"""

import dataclasses


@dataclasses.dataclass
class DataConfig:
    image_size: int = 128
    # Fraction of the files held out for validation, split by a seeded hash of
    # the file name so the split never changes when files are added.
    validation_fraction: float = 0.1
    # Cartoon Set faces fill the middle ~70% of a 500x500 canvas.
    center_crop_fraction: float | None = None
    flip: bool = False
    # Images larger than this are rejected before decoding (4096 x 4096).
    max_pixels: int = 4096 * 4096
    strict: bool = False
    seed: int = 0


@dataclasses.dataclass
class VAEConfig:
    preset: str = "baseline"
    latent_dim: int = 48
    kl_weight: float = 1.0
    # "constant", "linear" (warm-up to kl_weight) or "cyclical".
    kl_schedule: str = "constant"
    kl_warmup_steps: int = 1000
    # Nats per latent dimension below which KL is not penalised (0 turns it off).
    free_bits: float = 0.0
    # "mse" (sum of squared error), "l1" or "bernoulli" (on [0, 1] pixels).
    reconstruction_loss: str = "mse"
    learning_rate: float = 1e-3
    batch_size: int = 32
    epochs: int = 10
    # Images in the reconstruction and sample figures.
    num_figure_images: int = 8
    # "float32", "mixed_float16", "mixed_bfloat16" or "auto" (float16 on GPU).
    mixed_precision: str = "float32"
    # "default", "mirrored", "multi_worker" or "tpu".
    strategy: str = "default"
    # Mid-epoch checkpoint period in steps; None saves at epoch ends only.
    checkpoint_every_steps: int | None = None
    keep_checkpoints: int = 3


@dataclasses.dataclass
class CycleGANConfig:
    generator: str = "resnet"  # "resnet" or "unet"
    # 6 residual blocks at 128x128 and 9 at 256x256, as in the CycleGAN paper.
    num_residual_blocks: int | None = None
    generator_filters: int = 64
    discriminator_filters: int = 64
    gan_loss: str = "lsgan"  # "lsgan", "vanilla" or "hinge"
    cycle_weight: float = 10.0
    # Identity weight as a fraction of cycle_weight (0.5 gives 5.0).
    identity_weight: float = 0.5
    pool_size: int = 50
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    # Epochs at constant learning rate; the rest decay linearly to zero.
    decay_start_fraction: float = 0.5
    batch_size: int = 1
    epochs: int = 10
    # Jitter: resize up by this factor, random crop back, random flip.
    jitter_scale: float = 1.12
    # Diversity ratio below which the monitor warns about mode collapse.
    diversity_warning_threshold: float = 0.3
    num_monitor_images: int = 16
    # Mid-epoch checkpoint period in steps; None saves at epoch ends only.
    checkpoint_every_steps: int | None = None
    keep_checkpoints: int = 3
