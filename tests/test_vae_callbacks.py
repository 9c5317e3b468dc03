import csv
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_cartoon.callbacks import VAEMonitor, read_history_csv
from keras_cartoon.models import CartoonVAE

TINY = dict(image_size=32, encoder_filters=[8, 8, 8, 8], decoder_filters=[8, 8, 8, 8], latent_dim=4, seed=1)


def _images(num_images, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (num_images, 32, 32, 3)).astype("float32")


def _fit(model_dir, epochs=1, initial_epoch=0, num_figure_images=3, log_dir=None):
    vae = CartoonVAE(**TINY)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    dataset = tf.data.Dataset.from_tensor_slices(_images(4)).batch(2)
    monitor = VAEMonitor(model_dir, _images(num_figure_images, seed=1), num_samples=16, log_dir=log_dir)
    vae.fit(
        dataset, validation_data=dataset, epochs=epochs, initial_epoch=initial_epoch, callbacks=[monitor], verbose=0, shuffle=False
    )
    return vae


def _png_size(path):
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        return image.format, image.mode, image.size


@pytest.fixture(scope="module")
def monitored_run(tmp_path_factory):
    """A folder written by two epochs of a tiny VAE with a `VAEMonitor` and TensorBoard images."""
    model_dir = tmp_path_factory.mktemp("monitored_run")
    keras.utils.set_random_seed(0)
    _fit(model_dir, epochs=2, log_dir=model_dir / "logs")
    keras.backend.clear_session()
    return model_dir


def test_monitor_writes_grids_of_expected_size(monitored_run):
    # Tiles are 32 px with 2 px padding: width 8 * 34 + 2 = 274.
    # Reconstructions: one real row and one reconstructed row (3 images, 5 blanks).
    assert _png_size(monitored_run / "reconstructions.png") == ("PNG", "RGB", (274, 2 * 34 + 2))
    # Samples: 16 draws in 2 rows of 8.
    assert _png_size(monitored_run / "samples.png") == ("PNG", "RGB", (274, 2 * 34 + 2))
    assert _png_size(monitored_run / "learning_curve.png")[0] == "PNG"


def test_reconstruction_grid_shows_real_images_on_top(monitored_run):
    real_images = _images(3, seed=1)

    grid = np.asarray(Image.open(monitored_run / "reconstructions.png"))

    expected = np.clip(np.round((real_images[0] + 1.0) * 127.5), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(grid[2:34, 2:34], expected)
    # The blank tiles that fill the row are white.
    assert np.all(grid[2:34, 2 + 7 * 34 : 34 + 7 * 34] == 255)


def test_monitor_writes_one_history_row_per_epoch(monitored_run):
    with (monitored_run / "history.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))

    assert [row["epoch"] for row in rows] == ["0", "1"]
    for key in ("loss", "reconstruction_loss", "kl_loss", "kl_weight", "val_loss"):
        assert np.isfinite(float(rows[1][key])), key


def test_monitor_writes_tensorboard_images(monitored_run):
    event_files = list((monitored_run / "logs" / "images").glob("events.out.tfevents.*"))
    tags = set()
    for event_file in event_files:
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            tags.update(value.tag for value in event.summary.value)

    assert {"reconstructions", "samples"} <= tags


def test_resumed_run_keeps_earlier_history_rows(monitored_run, tmp_path):
    shutil.copy(monitored_run / "history.csv", tmp_path / "history.csv")
    first_run = read_history_csv(tmp_path / "history.csv")

    _fit(tmp_path, epochs=2, initial_epoch=1)
    history = read_history_csv(tmp_path / "history.csv")

    assert sorted(history) == [0, 1]
    assert history[0] == first_run[0]
    assert history[1] != first_run[1]


def test_new_run_replaces_old_history(monitored_run, tmp_path):
    shutil.copy(monitored_run / "history.csv", tmp_path / "history.csv")

    _fit(tmp_path, epochs=1)

    assert sorted(read_history_csv(tmp_path / "history.csv")) == [0]


def test_monitor_rejects_empty_validation_images(tmp_path):
    with pytest.raises(ValueError, match="validation_images"):
        VAEMonitor(tmp_path, np.zeros((0, 32, 32, 3), np.float32))
