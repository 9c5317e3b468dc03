"""PNG writers for image grids and learning curves (matplotlib, Agg backend)."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from keras_cartoon.io_utils import atomic_write  # noqa: E402


def to_uint8(images):
    """Map float images in [-1, 1] to uint8 RGB in [0, 255]."""
    images = np.asarray(images, dtype=np.float32)
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def make_grid(rows, padding=2):
    """Tile rows of images into one uint8 array.

    Args:
        rows: list of arrays, each `(n, H, W, 3)` float in [-1, 1]; all rows
            have the same `n`, `H` and `W`.
        padding: int. White pixels between tiles.

    Returns:
        uint8 array `(r * (H + p) + p, n * (W + p) + p, 3)`.
    """
    rows = [to_uint8(row) for row in rows]
    num_cols = rows[0].shape[0]
    height, width = rows[0].shape[1:3]
    for row in rows:
        if row.shape[0] != num_cols or row.shape[1:3] != (height, width):
            raise ValueError(
                "Every grid row must hold the same number of images of the same size. "
                f"Received: row shapes={[r.shape for r in rows]}"
            )
    grid = np.full(
        (len(rows) * (height + padding) + padding, num_cols * (width + padding) + padding, 3),
        255,
        dtype=np.uint8,
    )
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            top = padding + r * (height + padding)
            left = padding + c * (width + padding)
            grid[top : top + height, left : left + width] = image
    return grid


def save_image_grid(path, rows, padding=2):
    """Write rows of [-1, 1] images as one PNG at native resolution (no resampling)."""
    grid = make_grid(rows, padding=padding)
    with atomic_write(path) as tmp:
        Image.fromarray(grid).save(tmp, format="PNG")
    return grid.shape


def images_to_rows(images, num_cols):
    """Split `(N, H, W, 3)` into rows of `num_cols` images (N must divide evenly)."""
    images = np.asarray(images)
    if len(images) % num_cols:
        raise ValueError(
            f"Cannot split {len(images)} images into rows of {num_cols}. Received: num_cols={num_cols}"
        )
    return [images[i : i + num_cols] for i in range(0, len(images), num_cols)]


def plot_learning_curve(path, history, keys, title=None):
    """Plot train and validation curves, one panel per key.

    Args:
        path: output PNG path.
        history: dict of metric name -> list of per-epoch values, as in
            `keras.callbacks.History.history`; `val_<key>` is drawn dashed
            beside `<key>` when present.
        keys: metric names to plot, one panel each.
        title: optional figure title.
    """
    keys = [k for k in keys if k in history]
    if not keys:
        raise ValueError(f"No plottable keys in history. Received: history keys={sorted(history)}")
    num_cols = min(3, len(keys))
    num_rows = math.ceil(len(keys) / num_cols)
    fig, axes = plt.subplots(num_rows, num_cols, figsize=(4.5 * num_cols, 3.2 * num_rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        train = history[key]
        epochs = np.arange(1, len(train) + 1)
        ax.plot(epochs, train, marker="o", label="train")
        if f"val_{key}" in history:
            val = history[f"val_{key}"]
            ax.plot(np.arange(1, len(val) + 1), val, marker="o", linestyle="--", label="validation")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
