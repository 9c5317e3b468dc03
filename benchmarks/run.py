"""Run every benchmark, alternating contenders, and write BENCHMARKS.md and benchmarks/results.json.

Usage, from the repository root:

    .venv/bin/python -m benchmarks.run            # full run (estimate: 25 minutes on 2 quiet cores)
    .venv/bin/python -m benchmarks.run --quick    # under 5 minutes on 2 cores
    .venv/bin/python -m benchmarks.run --sections=vae,flops --output_dir=/tmp/bench

This process imports neither TensorFlow nor PyTorch: each contender runs in a
child process (see `benchmarks/workers.py`), so the parent stays small and
every child starts from the same state.
"""

import shlex
import sys

from absl import app
from absl import flags
from absl import logging

from benchmarks import settings as settings_lib
from benchmarks import train_throughput
from benchmarks.harness import RUNNERS, output_paths, run_benchmarks, write_outputs

_QUICK = flags.DEFINE_boolean("quick", False, "Smaller run that finishes in about 5 minutes on 2 cores.")
_PRESET = flags.DEFINE_enum(
    "preset", None, ["full", "quick", "tiny"], "Size preset; `tiny` is the test configuration. Overrides --quick."
)
_SECTIONS = flags.DEFINE_list(
    "sections", list(settings_lib.SECTIONS), f"Sections to run, from {', '.join(settings_lib.SECTIONS)}."
)
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir",
    None,
    "Folder for BENCHMARKS.md and results.json. Default: BENCHMARKS.md in the repository root and "
    "benchmarks/results.json.",
)
_DATA_DIR = flags.DEFINE_string(
    "data_dir", str(settings_lib.DEFAULT_CARTOONSET_DIR), "Folder of Cartoon Set PNGs for the pipeline section."
)
_THREADS = flags.DEFINE_integer("threads", None, "Intra-op threads of every framework (default 2).", lower_bound=1)
_INTEROP_THREADS = flags.DEFINE_integer(
    "interop_threads", None, "Inter-op threads of TensorFlow and PyTorch (default 2).", lower_bound=1
)
_VAE_CONTENDERS = flags.DEFINE_list(
    "vae_contenders",
    None,
    "VAE contenders (default: the preset's), from keras, keras_xla, keras_fused_bn, torch, torch_channels_last.",
)
_CYCLEGAN_CONTENDERS = flags.DEFINE_list(
    "cyclegan_contenders",
    None,
    "CycleGAN contenders (default: the preset's), from keras, keras_xla, torch.",
)
_CYCLEGAN_BATCH_SIZES = flags.DEFINE_list(
    "cyclegan_batch_sizes", None, "CycleGAN batch sizes (default: the preset's), for example 1,4."
)
_REPETITIONS = flags.DEFINE_integer(
    "repetitions", None, "Repetitions per contender (default: the preset's).", lower_bound=1
)


def settings_from_flags():
    preset = _PRESET.value or ("quick" if _QUICK.value else "full")
    factory = {
        "full": settings_lib.full_settings,
        "quick": settings_lib.quick_settings,
        "tiny": settings_lib.tiny_settings,
    }[preset]
    overrides = {"sections": tuple(_SECTIONS.value), "data_dir": _DATA_DIR.value}
    for field, flag in (("threads", _THREADS), ("interop_threads", _INTEROP_THREADS), ("repetitions", _REPETITIONS)):
        if flag.value is not None:
            overrides[field] = flag.value
    for field, flag in (("vae_contenders", _VAE_CONTENDERS), ("cyclegan_contenders", _CYCLEGAN_CONTENDERS)):
        if flag.value is not None:
            overrides[field] = tuple(flag.value)
    if _CYCLEGAN_BATCH_SIZES.value is not None:
        try:
            overrides["cyclegan_batch_sizes"] = tuple(int(size) for size in _CYCLEGAN_BATCH_SIZES.value)
        except ValueError:
            raise app.UsageError(
                f"--cyclegan_batch_sizes must list integers. Received: {','.join(_CYCLEGAN_BATCH_SIZES.value)}"
            ) from None
    return factory(**overrides)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    settings = settings_from_flags()
    unknown = [name for name in settings.sections if name not in RUNNERS]
    if unknown:
        raise app.UsageError(f"--sections lists unknown sections {unknown}; choose from {list(RUNNERS)}.")
    try:
        train_throughput.vae_contender_specs(settings)
        for batch_size in settings.cyclegan_batch_sizes:
            train_throughput.cyclegan_contender_specs(settings, batch_size)
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    command = "python -m benchmarks.run " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])
    results = run_benchmarks(settings, command.strip())
    markdown_path, json_path = output_paths(_OUTPUT_DIR.value)
    write_outputs(results, markdown_path, json_path)
    logging.info("Wrote %s and %s in %.0f s.", markdown_path, json_path, results["wall_s"])


if __name__ == "__main__":
    app.run(main)
