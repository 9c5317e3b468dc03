"""Run one exported TFLite file the way an app does, and write the image as PNG.

Usage:
    python -m export.run_tflite --model=exported/decoder/decoder_float32.tflite --seed=3 --output=face.png
    python -m export.run_tflite --model=exported/generator_a2b/generator_a2b_int8.tflite \
        --input=photo.png --output=anime.png

The conventions (input name, dtype, value range, quantization) are read from
the JSON written beside the file, exactly as an app would hard-code them.
"""

import pathlib

from absl import app
from absl import flags
from absl import logging

FLAGS = flags.FLAGS

flags.DEFINE_string("model", None, "Path of a `.tflite` file written by `python -m export`.")
flags.DEFINE_string("input", None, "Image file to translate, for a generator.")
flags.DEFINE_integer("seed", None, "Seed of the N(0, I) latent draw, for a decoder.")
flags.DEFINE_string("output", None, "Path of the PNG to write.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected positional arguments: {' '.join(argv[1:])}. Pass options as --flag=value.")
    from PIL import Image

    from export import app_runner
    from keras_cartoon import io_utils

    try:
        if not FLAGS.model or not pathlib.Path(FLAGS.model).is_file():
            raise ValueError(f"--model must be an existing .tflite file. Received: --model={FLAGS.model}")
        if not FLAGS.output:
            raise ValueError("--output is required: the path of the PNG to write.")
        if pathlib.Path(FLAGS.output).is_dir():
            raise ValueError(f"--output must be a file path, not a folder. Received: --output={FLAGS.output}")
        io_utils.check_output_dir(pathlib.Path(FLAGS.output).parent, "--output", received=FLAGS.output)
        if (FLAGS.input is None) == (FLAGS.seed is None):
            raise ValueError(f"Pass exactly one of --input (generators) and --seed (decoders). Received: --input={FLAGS.input}, --seed={FLAGS.seed}")
        pixels = app_runner.run_file(FLAGS.model, FLAGS.input, FLAGS.seed)
    except ValueError as error:
        logging.error("%s", error)
        return 2
    with io_utils.atomic_write(FLAGS.output, suffix=".png") as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")
    logging.info("Wrote %s (%dx%d)", FLAGS.output, pixels.shape[1], pixels.shape[0])
    return 0


if __name__ == "__main__":
    app.run(main)
