"""Translate an image or a folder of images with a saved CycleGAN generator.

Example:
    python -m trainers.translate --generator=runs/cyclegan/generator_a2b.keras \
        --input=photos/ --output_dir=translated/
"""

from absl import app
from absl import flags

from keras_cartoon.training import translate_lib

_GENERATOR = flags.DEFINE_string("generator", None, "Generator `.keras` file written by train_cyclegan.", required=True)
_INPUT = flags.DEFINE_string("input", None, "Image file or folder of images.", required=True)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Folder for the translated PNGs.", required=True)
_UNSAFE_LOAD = flags.DEFINE_bool(
    "unsafe_load", False, "Allow serialized Python code in the model file. Only for files you trust."
)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(
            f"Unexpected command-line arguments: {' '.join(argv[1:])}. Pass options as --flag=value."
        )
    try:
        translate_lib.translate_files(
            _GENERATOR.value, _INPUT.value, _OUTPUT_DIR.value, safe_mode=not _UNSAFE_LOAD.value
        )
    except (FileNotFoundError, ValueError) as error:
        raise app.UsageError(str(error)) from error


if __name__ == "__main__":
    app.run(main)
