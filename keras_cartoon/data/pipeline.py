"""tf.data input pipelines from image folders or explicit file lists."""

import concurrent.futures
import dataclasses
import hashlib
import os
import threading

import numpy as np
from absl import logging

from keras_cartoon.config import DataConfig
from keras_cartoon.data.images import ImageDecodeError
from keras_cartoon.data.images import check_center_crop_fraction
from keras_cartoon.data.images import decode_image_file
from keras_cartoon.data.images import decode_image_uint8
from keras_cartoon.data.images import display_path
from keras_cartoon.data.scan import scan_image_folder

# Runtime decode failures logged one by one before the log goes quiet.
MAX_LOGGED_DECODE_FAILURES = 20
# Upper bound on the shuffle buffer, in images (uint8, so 10k at 128x128 is ~0.5 GB).
MAX_SHUFFLE_BUFFER = 10000


@dataclasses.dataclass
class DatasetSplit:
    """Training and validation datasets of one image folder.

    Attributes:
        train: `tf.data.Dataset` of float32 batches `(B, H, W, 3)` in [-1, 1].
        validation: the same for the held-out files, or `None` when
            `validation_fraction` is 0.
        train_paths: files in `train`, in scan order.
        validation_paths: files in `validation`, in scan order.
        skipped: `(path, reason)` pairs of files the scan skipped.
    """

    train: object
    validation: object
    train_paths: list
    validation_paths: list
    skipped: list


def validation_score(relative_path, seed):
    """Map a relative path and seed to a number in [0, 1), stable across runs.

    A file's split depends only on its own name and the seed, so adding or
    removing other files does not move it between train and validation. The
    exception is the one-file fallback of `split_paths` for tiny folders.
    """
    digest = hashlib.sha256(str(seed).encode("ascii") + b"\0" + os.fsencode(relative_path)).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_paths(paths, data_dir, validation_fraction, seed):
    """Split `paths` into (train, validation) lists by `validation_score`.

    With `validation_fraction > 0` and at least two files, validation gets at
    least the one file with the lowest score, so tiny folders still validate.
    """
    if validation_fraction <= 0:
        return list(paths), []
    root = os.fsencode(data_dir)
    scores = [validation_score(os.path.relpath(os.fsencode(p), root), seed) for p in paths]
    validation = {i for i, score in enumerate(scores) if score < validation_fraction}
    if not validation and len(paths) >= 2:
        validation = {int(np.argmin(scores))}
    train_paths = [p for i, p in enumerate(paths) if i not in validation]
    validation_paths = [p for i, p in enumerate(paths) if i in validation]
    return train_paths, validation_paths


class _DecodeFailureLog:
    """Count decode failures inside tf.data and log the first few."""

    def __init__(self):
        # tf.data calls the decoder from several threads at once.
        self.lock = threading.Lock()
        self.count = 0

    def record(self, error):
        with self.lock:
            self.count += 1
            count = self.count
        if count <= MAX_LOGGED_DECODE_FAILURES:
            last = count == MAX_LOGGED_DECODE_FAILURES
            logging.warning(
                "Dropped an image that failed to decode; it may have changed after the folder "
                "scan. %s %d failure(s) so far%s",
                error,
                count,
                ", later failures are not logged." if last else ".",
            )


def paths_dataset(
    paths,
    image_size,
    batch_size=None,
    center_crop_fraction=None,
    shuffle=False,
    seed=0,
    flip=False,
    cache=True,
    drop_remainder=False,
    max_pixels=DataConfig.max_pixels,
):
    """Build a `tf.data.Dataset` of images from an explicit list of files.

    Decoding runs in Pillow through `tf.numpy_function` with parallel calls. A
    file that fails to decode (`ImageDecodeError`) is dropped with a logged
    warning, so the epoch continues without it.
    Order: decode, cache (uint8), shuffle, flip, batch, float32 [-1, 1], prefetch.

    Args:
        paths: image files (`str`, `bytes` or `os.PathLike`), e.g. `ScanResult.paths`.
        image_size: output height and width in pixels.
        batch_size: batch size, or `None` for unbatched `(H, W, 3)` elements.
        center_crop_fraction: see `decode_image_file`.
        shuffle: shuffle with `seed`, in a new order every epoch.
        seed: shuffle and flip seed.
        flip: random horizontal flip, independent per image.
        cache: `True` caches decoded images in memory, a path caches to that
            file prefix, `False` decodes every epoch.
        drop_remainder: drop the last incomplete batch.
        max_pixels: see `decode_image_file`.
    """
    import tensorflow as tf

    check_center_crop_fraction(center_crop_fraction)
    if not paths:
        raise ValueError("paths must contain at least one image file. Received: paths=[]")
    failures = _DecodeFailureLog()

    def decode_or_flag(path):
        try:
            return decode_image_uint8(path, image_size, center_crop_fraction, max_pixels), True
        except ImageDecodeError as error:
            failures.record(error)
            return np.zeros((image_size, image_size, 3), np.uint8), False

    def decode(path):
        image, ok = tf.numpy_function(decode_or_flag, [path], (tf.uint8, tf.bool), stateful=False)
        image.set_shape((image_size, image_size, 3))
        ok.set_shape(())
        return image, ok

    encoded = [os.fsencode(p) for p in paths]
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(encoded, dtype=tf.string))
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    # NOTE: the filter makes the cardinality unknown, and Keras 3.15 then adds
    # one to optimizer.iterations at the end of every epoch without changing
    # any weight (checked against a dataset of known size). Step-based
    # schedules (KL warm-up, learning-rate decay) therefore run one step per
    # epoch ahead.
    dataset = dataset.filter(lambda image, ok: ok)
    dataset = dataset.map(lambda image, ok: image)

    if cache is True:
        dataset = dataset.cache()
    elif cache:
        os.makedirs(os.path.dirname(os.fspath(cache)) or ".", exist_ok=True)
        dataset = dataset.cache(os.fspath(cache))

    if shuffle:
        buffer_size = min(len(paths), MAX_SHUFFLE_BUFFER)
        dataset = dataset.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True)
    if flip:
        dataset = dataset.map(
            lambda image: tf.image.random_flip_left_right(image, seed=seed),
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    def to_float(images):
        return tf.cast(images, tf.float32) / 127.5 - 1.0

    if batch_size is not None:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _check_arguments(image_size, batch_size, validation_fraction):
    if not (isinstance(image_size, int) and image_size > 0 and image_size % 16 == 0):
        raise ValueError(
            "image_size must be a positive multiple of 16 (the models downsample by 16). "
            f"Received: image_size={image_size!r}"
        )
    if not (isinstance(batch_size, int) and batch_size > 0):
        raise ValueError(
            f"batch_size must be a positive integer. Received: batch_size={batch_size!r}"
        )
    if not (isinstance(validation_fraction, (int, float)) and 0.0 <= validation_fraction < 1.0):
        raise ValueError(
            "validation_fraction must be in [0, 1). "
            f"Received: validation_fraction={validation_fraction!r}"
        )


def image_folder_datasets(
    data_dir,
    image_size=DataConfig.image_size,
    batch_size=32,
    validation_fraction=DataConfig.validation_fraction,
    seed=DataConfig.seed,
    center_crop_fraction=DataConfig.center_crop_fraction,
    flip=DataConfig.flip,
    cache=True,
    strict=DataConfig.strict,
    max_pixels=DataConfig.max_pixels,
    drop_remainder=False,
):
    """Scan `data_dir` and build seeded train and validation datasets.

    The split hashes each file's path relative to `data_dir` with `seed`, so
    it is the same on every run and stays put when files are added. Train is
    shuffled (new order each epoch) and optionally flipped; validation is
    neither. With `cache` a string, the caches are `<cache>-train` and
    `<cache>-validation`.

    Returns:
        A `DatasetSplit`.

    Raises:
        ValueError: invalid argument, folder missing, empty or without usable
            images, a bad file with `strict=True`, or `batch_size` larger than
            the number of training images.
    """
    _check_arguments(image_size, batch_size, validation_fraction)
    check_center_crop_fraction(center_crop_fraction)
    scan = scan_image_folder(data_dir, strict=strict, max_pixels=max_pixels)
    train_paths, validation_paths = split_paths(scan.paths, data_dir, validation_fraction, seed)
    if batch_size > len(train_paths):
        raise ValueError(
            f"batch_size={batch_size} is larger than the {len(train_paths)} training images "
            f"in {display_path(data_dir)}. Lower batch_size or add images. "
            f"Received: batch_size={batch_size}, data_dir={display_path(data_dir)!r}"
        )
    logging.info(
        "Image folder %s: %d train, %d validation, %d skipped.",
        display_path(data_dir),
        len(train_paths),
        len(validation_paths),
        len(scan.skipped),
    )

    def cache_for(split):
        if isinstance(cache, (str, os.PathLike)):
            return f"{os.fspath(cache)}-{split}"
        return cache

    common = dict(
        image_size=image_size,
        batch_size=batch_size,
        center_crop_fraction=center_crop_fraction,
        seed=seed,
        max_pixels=max_pixels,
    )
    train = paths_dataset(
        train_paths,
        shuffle=True,
        flip=flip,
        cache=cache_for("train"),
        drop_remainder=drop_remainder,
        **common,
    )
    validation = None
    if validation_paths:
        validation = paths_dataset(validation_paths, cache=cache_for("validation"), **common)
    return DatasetSplit(
        train=train,
        validation=validation,
        train_paths=train_paths,
        validation_paths=validation_paths,
        skipped=scan.skipped,
    )


def load_images(paths, image_size, center_crop_fraction=None, max_pixels=DataConfig.max_pixels):
    """Decode a small fixed set of files into one float32 array `(N, H, W, 3)`.

    Meant for figures and metrics. Unlike the datasets, a bad file raises.

    Raises:
        ImageDecodeError: a file cannot be decoded.
    """
    paths = list(paths)
    if not paths:
        raise ValueError("paths must contain at least one image file. Received: paths=[]")
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(paths))) as pool:
        images = list(
            pool.map(
                lambda p: decode_image_file(p, image_size, center_crop_fraction, max_pixels), paths
            )
        )
    return np.stack(images)
