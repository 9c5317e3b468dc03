"""Translate image files with a saved CycleGAN generator (the logic of `trainers/translate.py`)."""

import pathlib

import numpy as np
from absl import logging
from PIL import Image

from keras_cartoon import data as data_lib
from keras_cartoon.io_utils import atomic_write
from keras_cartoon.io_utils import check_output_dir
from keras_cartoon.io_utils import load_model_safely
from keras_cartoon.visualize import to_uint8

# Images per generator call.
BATCH_SIZE = 16


def collect_inputs(input_path):
    """Return `(root, paths)`: the one file, or the usable images of a folder (bad ones skipped and logged)."""
    input_path = pathlib.Path(input_path)
    if input_path.is_file():
        return input_path.parent, [input_path]
    if input_path.is_dir():
        scan = data_lib.scan_image_folder(input_path)
        return input_path, [pathlib.Path(p) for p in scan.paths]
    raise FileNotFoundError(f"--input is neither a file nor a folder. Check the path. Received: input={str(input_path)!r}")


def output_path_for(path, root, output_dir):
    """Map `root/sub/name.jpg` to `output_dir/sub/name.png`, keeping the folder layout."""
    relative = pathlib.Path(path).relative_to(root)
    return pathlib.Path(output_dir) / relative.with_suffix(".png")


def translate_files(generator_path, input_path, output_dir, safe_mode=True):
    """Translate one image file or every image in a folder and write PNGs under `output_dir`.

    Inputs are decoded like the training data (alpha composited onto white,
    square centre crop, resized to the generator's input size). Outputs are
    PNGs at the generator's size, named after the inputs. A file that fails
    to decode is skipped and logged.

    Returns:
        `(written, skipped)`: lists of output paths and of `(input, reason)` pairs.
    """
    check_output_dir(output_dir, "output_dir")
    generator = load_model_safely(generator_path, safe_mode=safe_mode)
    image_size = generator.input_shape[1]
    if image_size is None:
        raise ValueError(
            f"The generator must have a fixed input size to translate files. "
            f"Received: input_shape={generator.input_shape} in {generator_path}"
        )
    root, paths = collect_inputs(input_path)

    written, skipped = [], []
    for start in range(0, len(paths), BATCH_SIZE):
        batch_paths, images = [], []
        for path in paths[start : start + BATCH_SIZE]:
            try:
                images.append(data_lib.decode_image_file(path, image_size))
                batch_paths.append(path)
            except data_lib.ImageDecodeError as error:
                logging.warning("Skipping %s: %s", path, error.reason)
                skipped.append((str(path), error.reason))
        if not images:
            continue
        outputs = to_uint8(np.asarray(generator(np.stack(images), training=False)))
        for path, output in zip(batch_paths, outputs):
            target = output_path_for(path, root, output_dir)
            with atomic_write(target) as tmp:
                Image.fromarray(output).save(tmp, format="PNG")
            written.append(target)

    logging.info("Translated %d images into %s (%d skipped).", len(written), output_dir, len(skipped))
    if not written:
        raise ValueError(f"No image could be translated. Received: input={str(input_path)!r}")
    return written, skipped
