"""MS-SSIM diversity and the mode-collapse monitor: ~0 for a constant generator, ~1 for identity on real data."""

import logging
import types

import keras
import numpy as np
import pytest

from keras_cartoon.cyclegan_callbacks import DiversityMonitor
from keras_cartoon.data import load_images
from keras_cartoon.data import scan_image_folder
from keras_cartoon.metrics.diversity import diversity
from keras_cartoon.metrics.diversity import diversity_ratio

IMAGE_SIZE = 32


def _constant_generator():
    # A 1x1 conv with zero kernel and a fixed bias: every input maps to one flat colour.
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    outputs = keras.layers.Conv2D(
        3, 1, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(0.3)
    )(inputs)
    return keras.Model(inputs, outputs)


def _identity_generator():
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    return keras.Model(inputs, keras.layers.Identity()(inputs))


def _real_anime_sets(anime_faces_dir):
    paths = scan_image_folder(anime_faces_dir).paths
    # Two disjoint sets of one domain: "A" and "B" vary alike.
    return load_images(paths[:16], IMAGE_SIZE), load_images(paths[16:32], IMAGE_SIZE)


def _monitor(generator, images_a, images_b, tmp_path):
    monitor = DiversityMonitor(images_a, images_b, threshold=0.3, plot_path=tmp_path / "diversity.png")
    monitor.set_model(types.SimpleNamespace(generator_a2b=generator, generator_b2a=generator))
    return monitor


def test_diversity_zero_for_identical_images():
    images = np.tile(np.random.default_rng(0).uniform(-1, 1, (1, IMAGE_SIZE, IMAGE_SIZE, 3)), (4, 1, 1, 1))
    assert diversity(images) == pytest.approx(0.0, abs=1e-5)


def test_diversity_positive_for_noise():
    images = np.random.default_rng(0).uniform(-1, 1, (4, IMAGE_SIZE, IMAGE_SIZE, 3))
    assert diversity(images) > 0.5


def test_diversity_ratio_rejects_identical_real_images():
    real = np.zeros((3, IMAGE_SIZE, IMAGE_SIZE, 3), np.float32)
    with pytest.raises(ValueError, match="zero diversity"):
        diversity_ratio(real, real)


def test_diversity_needs_two_images():
    with pytest.raises(ValueError, match="at least 2"):
        diversity(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 3)))


def test_monitor_constant_generator_warns(anime_faces_dir, tmp_path, caplog):
    images_a, images_b = _real_anime_sets(anime_faces_dir)
    monitor = _monitor(_constant_generator(), images_a, images_b, tmp_path)
    logs = {}
    with caplog.at_level(logging.WARNING):
        monitor.on_epoch_end(0, logs)

    assert logs["diversity_a2b"] < 0.05
    assert logs["diversity_b2a"] < 0.05
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("direction A->B" in message for message in warnings)
    assert any("direction B->A" in message for message in warnings)
    assert (tmp_path / "diversity.png").is_file()


def test_monitor_identity_generator_no_warning(anime_faces_dir, tmp_path, caplog):
    images_a, images_b = _real_anime_sets(anime_faces_dir)
    monitor = _monitor(_identity_generator(), images_a, images_b, tmp_path)
    logs = {}
    with caplog.at_level(logging.WARNING):
        monitor.on_epoch_end(0, logs)

    assert 0.75 < logs["diversity_a2b"] < 1.33
    assert 0.75 < logs["diversity_b2a"] < 1.33
    assert not [r for r in caplog.records if "mode collapse" in r.getMessage()]
    assert monitor.history["diversity_a2b"] == [logs["diversity_a2b"]]
