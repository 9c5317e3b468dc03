"""CycleGAN callbacks: mode-collapse monitor, translation grids, CSV history and learning curve."""

import csv
import io

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from absl import logging  # noqa: E402

from keras_cartoon.config import CycleGANConfig  # noqa: E402
from keras_cartoon.io_utils import atomic_write  # noqa: E402
from keras_cartoon.io_utils import write_text_atomic  # noqa: E402
from keras_cartoon.metrics.diversity import diversity  # noqa: E402
from keras_cartoon.visualize import plot_learning_curve  # noqa: E402
from keras_cartoon.visualize import save_image_grid  # noqa: E402

DIRECTIONS = ("a2b", "b2a")


def translate(generator, images, batch_size=8):
    """Run `generator` in inference mode on a numpy batch and return numpy float32."""
    outputs = [
        keras.ops.convert_to_numpy(generator(images[i : i + batch_size], training=False))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(outputs).astype(np.float32)


class DiversityMonitor(keras.callbacks.Callback):
    """Log the MS-SSIM diversity ratio of each direction every epoch and warn on mode collapse.

    At each epoch end the fixed images `images_a` are translated A->B and
    `images_b` B->A. The ratio of a direction is the mean pairwise
    `1 - MS-SSIM` of its translations divided by the same for the real images
    of its target domain (see `keras_cartoon.metrics.diversity`). The values go
    into the epoch logs as `diversity_a2b` and `diversity_b2a` (so a
    `HistoryCSV` placed after this callback records them), into
    `self.history`, and into `plot_path` as a PNG. A ratio below `threshold`
    logs an absl warning naming the direction.

    Args:
        images_a, images_b: `(N, H, W, 3)` arrays in [-1, 1], N >= 2.
        threshold: float. Warn below this ratio. Defaults to
            `CycleGANConfig.diversity_warning_threshold`.
        plot_path: str or path, or None for no figure.
    """

    def __init__(self, images_a, images_b, threshold=CycleGANConfig.diversity_warning_threshold, plot_path=None):
        super().__init__()
        self.images = {"a": np.asarray(images_a, np.float32), "b": np.asarray(images_b, np.float32)}
        for domain, images in self.images.items():
            if len(images) < 2:
                raise ValueError(
                    f"The diversity monitor needs at least 2 images per domain. "
                    f"Received: {len(images)} images for domain {domain.upper()}"
                )
        self.threshold = threshold
        self.plot_path = plot_path
        # Diversity of the real images is fixed, so it is computed once.
        self.real_diversity = {domain: diversity(images) for domain, images in self.images.items()}
        self.history = {f"diversity_{direction}": [] for direction in DIRECTIONS}

    def compute_ratios(self):
        ratios = {}
        for direction, generator in (("a2b", self.model.generator_a2b), ("b2a", self.model.generator_b2a)):
            source, target = direction[0], direction[-1]
            translated = translate(generator, self.images[source])
            ratios[f"diversity_{direction}"] = diversity(translated) / self.real_diversity[target]
        return ratios

    def on_epoch_end(self, epoch, logs=None):
        ratios = self.compute_ratios()
        for key, ratio in ratios.items():
            self.history[key].append(ratio)
            if logs is not None:
                logs[key] = ratio
            direction = key.removeprefix("diversity_").replace("2", "->").upper()
            logging.info("Epoch %d: diversity ratio %s = %.3f", epoch + 1, direction, ratio)
            if ratio < self.threshold:
                logging.warning(
                    "Possible mode collapse in direction %s: diversity ratio %.3f is below the "
                    "threshold %.3f (the translations differ from each other much less than real "
                    "images do). Check translations.png; lower the learning rate or raise "
                    "identity_weight if it persists.",
                    direction,
                    ratio,
                    self.threshold,
                )
        if self.plot_path:
            self.plot()

    def plot(self):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for key, values in self.history.items():
            label = key.removeprefix("diversity_").replace("2", "->").upper()
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=label)
        ax.axhline(self.threshold, color="red", linestyle="--", label="warning threshold")
        ax.set_xlabel("epoch")
        ax.set_ylabel("diversity ratio (1 = real data)")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        with atomic_write(self.plot_path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)


class TranslationGrid(keras.callbacks.Callback):
    """Write a PNG each epoch with rows A, A->B, A->B->A, B, B->A, B->A->B."""

    def __init__(self, images_a, images_b, path):
        super().__init__()
        self.images_a = np.asarray(images_a, np.float32)
        self.images_b = np.asarray(images_b, np.float32)
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        write_translation_grid(self.model, self.images_a, self.images_b, self.path)


def write_translation_grid(model, images_a, images_b, path):
    fake_b = translate(model.generator_a2b, images_a)
    cycled_a = translate(model.generator_b2a, fake_b)
    fake_a = translate(model.generator_b2a, images_b)
    cycled_b = translate(model.generator_a2b, fake_a)
    save_image_grid(path, [images_a, fake_b, cycled_a, images_b, fake_a, cycled_b])


class HistoryCSV(keras.callbacks.Callback):
    """Rewrite the whole history CSV atomically each epoch and redraw the learning curve.

    Unlike `keras.callbacks.CSVLogger`, a crash mid-write never leaves a
    truncated file. Columns are `epoch` then every log key, in first-seen order.
    """

    def __init__(self, csv_path, curve_path=None, curve_keys=()):
        super().__init__()
        self.csv_path = csv_path
        self.curve_path = curve_path
        self.curve_keys = tuple(curve_keys)
        self.rows = []

    def restore(self, history):
        """Replace the rows with `{epoch: logs}` of the completed epochs (0-based) and rewrite the file."""
        self.rows = [{"epoch": epoch + 1, **row} for epoch, row in sorted(history.items())]
        self._write()

    def on_epoch_end(self, epoch, logs=None):
        # A resumed run re-runs an unfinished epoch, so its row replaces any older one.
        self.rows = [row for row in self.rows if row["epoch"] < epoch + 1]
        self.rows.append({"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}})
        self._write()

    def _write(self):
        if not self.rows:
            write_text_atomic(self.csv_path, "epoch\n")
            return
        columns = list(dict.fromkeys(key for row in self.rows for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.csv_path, buffer.getvalue())

        if self.curve_path:
            history = {key: [row[key] for row in self.rows if key in row] for key in columns if key != "epoch"}
            plot_learning_curve(self.curve_path, history, self.curve_keys or list(history), title="CycleGAN losses")
