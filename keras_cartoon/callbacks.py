"""Per-epoch figures, CSV history and TensorBoard images for the VAE."""

import csv
import io
import math
import pathlib

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from keras_cartoon import visualize
from keras_cartoon.io_utils import write_text_atomic

LEARNING_CURVE_KEYS = ("loss", "reconstruction_loss", "kl_loss")


def read_history_csv(path):
    """Read a history CSV written by `VAEMonitor` into `{epoch: {metric: value}}`."""
    path = pathlib.Path(path)
    if not path.is_file():
        return {}
    rows = {}
    with path.open(newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            epoch = int(row.pop("epoch"))
            rows[epoch] = {key: float(value) for key, value in row.items() if value not in ("", None)}
    return rows


def write_history_csv(path, history):
    """Write `{epoch: {metric: value}}` as a CSV with one row per epoch, atomically."""
    keys = sorted({key for row in history.values() for key in row})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["epoch", *keys], lineterminator="\n")
    writer.writeheader()
    for epoch in sorted(history):
        writer.writerow({"epoch": epoch, **history[epoch]})
    write_text_atomic(path, buffer.getvalue())


class VAEMonitor(keras.callbacks.Callback):
    """Refresh figures and the metric history in `model_dir` after every epoch.

    Files, each replaced atomically:
        learning_curve.png: train and validation `loss`, `reconstruction_loss`
            and `kl_loss` per epoch.
        reconstructions.png: the fixed `validation_images` (odd rows) above
            their reconstructions from `z_mean` (even rows).
        samples.png: decodings of `num_samples` fixed draws from N(0, I).
        history.csv: one row per epoch, every logged metric.
    With `log_dir`, both grids also go to TensorBoard as images.

    A run that resumes with `fit(initial_epoch=k)` keeps the first `k` rows
    of an existing history.csv; a new run from epoch 0 replaces them.

    Args:
        model_dir: folder of the files.
        validation_images: float32 `(N, H, W, 3)` in [-1, 1], the same every epoch.
        num_samples: int. Images in samples.png. Defaults to `16`.
        images_per_row: int. Columns of both grids. Defaults to `8`.
        seed: int. Seed of the N(0, I) draws. Defaults to `0`.
        log_dir: folder for TensorBoard image summaries, or `None`.
    """

    def __init__(self, model_dir, validation_images, num_samples=16, images_per_row=8, seed=0, log_dir=None):
        super().__init__()
        self.model_dir = pathlib.Path(model_dir)
        self.validation_images = np.asarray(validation_images, dtype=np.float32)
        if self.validation_images.ndim != 4 or len(self.validation_images) == 0:
            raise ValueError(
                "`validation_images` must be a non-empty (N, H, W, 3) array. "
                f"Received: validation_images.shape={self.validation_images.shape}"
            )
        self.num_samples = num_samples
        self.images_per_row = images_per_row
        self.seed = seed
        self.log_dir = None if log_dir is None else pathlib.Path(log_dir)
        self.history = {}
        self._image_writer = None

    def on_train_begin(self, logs=None):
        self.model_dir.mkdir(parents=True, exist_ok=True)
        self.history = read_history_csv(self.model_dir / "history.csv")
        if self.log_dir is not None:
            self._image_writer = tf.summary.create_file_writer(str(self.log_dir / "images"))

    def on_epoch_end(self, epoch, logs=None):
        # A new run from epoch 0 drops the rows of an older run in the same folder.
        self.history = {e: row for e, row in self.history.items() if e < epoch}
        self.history[epoch] = {key: float(value) for key, value in (logs or {}).items()}
        self._write_history_csv()
        self._write_learning_curve()

        reconstruction_grid = self._write_reconstructions()
        sample_grid = self._write_samples()
        if self._image_writer is not None:
            with self._image_writer.as_default():
                tf.summary.image("reconstructions", reconstruction_grid[None], step=epoch)
                tf.summary.image("samples", sample_grid[None], step=epoch)
            self._image_writer.flush()

    def on_train_end(self, logs=None):
        if self._image_writer is not None:
            self._image_writer.close()
            self._image_writer = None

    def _write_history_csv(self):
        write_history_csv(self.model_dir / "history.csv", self.history)

    def _write_learning_curve(self):
        epochs = sorted(self.history)
        curves = {}
        for key in {key for row in self.history.values() for key in row}:
            curves[key] = [self.history[e].get(key, math.nan) for e in epochs]
        visualize.plot_learning_curve(
            self.model_dir / "learning_curve.png", curves, LEARNING_CURVE_KEYS, title="VAE learning curve"
        )

    def _write_reconstructions(self):
        real_images = self.validation_images
        reconstructed_images = keras.ops.convert_to_numpy(self.model.reconstruct(real_images))
        rows = []
        for start in range(0, len(real_images), self.images_per_row):
            rows.append(_pad_row(real_images[start : start + self.images_per_row], self.images_per_row))
            rows.append(_pad_row(reconstructed_images[start : start + self.images_per_row], self.images_per_row))
        return self._save_grid("reconstructions.png", rows)

    def _write_samples(self):
        sampled_images = keras.ops.convert_to_numpy(self.model.sample(self.num_samples, seed=self.seed))
        rows = [_pad_row(sampled_images[i : i + self.images_per_row], self.images_per_row)
                for i in range(0, len(sampled_images), self.images_per_row)]
        return self._save_grid("samples.png", rows)

    def _save_grid(self, name, rows):
        visualize.save_image_grid(self.model_dir / name, rows)
        logging.debug("Wrote %s", self.model_dir / name)
        return visualize.make_grid(rows)


def _pad_row(images, num_cols):
    """Fill a short last row with white images so every grid row has `num_cols` tiles."""
    missing = num_cols - len(images)
    if missing <= 0:
        return images
    blank = np.ones((missing, *images.shape[1:]), dtype=images.dtype)
    return np.concatenate([images, blank])
