"""Benchmark sizes: the full run, `--quick`, and the tiny configuration of the tests."""

import dataclasses
import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
# Real Cartoon Set PNGs (500x500), kept beside the repository, never inside it.
DEFAULT_CARTOONSET_DIR = REPO_ROOT.parent / "shared" / "data" / "cartoonset"

SECTIONS = ("vae", "cyclegan", "pipeline", "inference", "flops")
TFLITE_VARIANTS = ("float32", "float16", "dynamic_range", "int8")


@dataclasses.dataclass
class BenchmarkSettings:
    """Every size and count of one benchmark run.

    Steps and runs are per repetition; warm-up steps run once per contender
    before the first repetition and are not timed into the results.
    """

    preset: str = "full"
    sections: tuple = SECTIONS
    # Intra-op threads of TensorFlow, PyTorch and NumPy, equal for every contender.
    threads: int = 2
    interop_threads: int = 2
    repetitions: int = 5

    # VAE training (baseline preset).
    vae_image_size: int = 128
    vae_batch_size: int = 64
    vae_warmup_steps: int = 3
    vae_steps: int = 8
    vae_contenders: tuple = ("keras", "keras_xla", "keras_fused_bn", "torch", "torch_channels_last")

    # CycleGAN training (ResNet generator).
    cyclegan_image_size: int = 128
    cyclegan_batch_sizes: tuple = (1, 4)
    cyclegan_filters: int = 64
    # None: the library's default (6 blocks below 256x256).
    cyclegan_residual_blocks: int | None = None
    cyclegan_warmup_steps: int = 2
    cyclegan_steps: int = 3
    cyclegan_contenders: tuple = ("keras", "keras_xla", "torch")

    # Input pipeline on real PNGs.
    data_dir: str = str(DEFAULT_CARTOONSET_DIR)
    pipeline_image_size: int = 128
    pipeline_batch_size: int = 64
    pipeline_repetitions: int = 3
    # Training epochs on the pipeline while next() latency is recorded.
    pipeline_train_epochs: int = 3

    # Inference at batch 1.
    inference_image_size: int = 128
    inference_variants: tuple = TFLITE_VARIANTS
    inference_runs: int = 50
    # A contender stops early once its timed calls of one repetition pass this
    # many seconds (after at least MIN_INFERENCE_RUNS), so slow Keras calls
    # of the generator do not dominate the run time.
    inference_max_seconds: float = 10.0
    inference_warmup_runs: int = 5
    inference_calibration_images: int = 8

    # FLOPs and the measured peak.
    matmul_size: int = 2048
    matmul_repeats: int = 5

    def to_json(self):
        return dataclasses.asdict(self)


def full_settings(**overrides):
    return dataclasses.replace(BenchmarkSettings(), **overrides)


def quick_settings(**overrides):
    """Return settings sized to finish in about 5 minutes on 2 cores.

    Fewer repetitions and steps, no XLA CycleGAN (its compile alone takes
    minutes), CycleGAN at batch 1 only, and fewer inference runs.
    """
    quick = dict(
        preset="quick",
        repetitions=3,
        vae_warmup_steps=2,
        vae_steps=3,
        vae_contenders=("keras", "keras_xla", "keras_fused_bn", "torch"),
        cyclegan_batch_sizes=(1,),
        cyclegan_warmup_steps=1,
        cyclegan_steps=1,
        cyclegan_contenders=("keras", "torch"),
        pipeline_repetitions=1,
        pipeline_train_epochs=2,
        inference_runs=20,
        inference_max_seconds=1.5,
        inference_warmup_runs=3,
        inference_calibration_images=2,
        matmul_size=1024,
        matmul_repeats=3,
    )
    quick.update(overrides)
    return dataclasses.replace(BenchmarkSettings(), **quick)


def tiny_settings(**overrides):
    """Return settings for the harness test: 32x32 images, 2 steps, 1 repetition; numbers mean nothing."""
    tiny = dict(
        preset="tiny",
        repetitions=1,
        vae_image_size=32,
        vae_batch_size=2,
        vae_warmup_steps=1,
        vae_steps=2,
        vae_contenders=("keras", "torch"),
        cyclegan_image_size=32,
        cyclegan_batch_sizes=(1,),
        cyclegan_filters=8,
        cyclegan_residual_blocks=1,
        cyclegan_warmup_steps=1,
        cyclegan_steps=2,
        cyclegan_contenders=("keras", "torch"),
        pipeline_image_size=32,
        pipeline_batch_size=8,
        pipeline_repetitions=1,
        pipeline_train_epochs=2,
        inference_image_size=32,
        inference_variants=("float32", "int8"),
        inference_runs=3,
        inference_max_seconds=1.0,
        inference_warmup_runs=1,
        inference_calibration_images=1,
        matmul_size=128,
        matmul_repeats=2,
    )
    tiny.update(overrides)
    return dataclasses.replace(BenchmarkSettings(), **tiny)
