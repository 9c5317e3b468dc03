"""CycleGAN training on small real subsets: losses fall, and the trainer lib writes every output."""

import csv
import json
import math

import keras
import numpy as np
import pytest

from keras_cartoon.config import CycleGANConfig
from keras_cartoon.data import scan_image_folder
from keras_cartoon.models.cyclegan import CycleGAN
from keras_cartoon.training import cyclegan_lib

TINY_CONFIG = CycleGANConfig(
    generator_filters=8, discriminator_filters=8, num_residual_blocks=1, pool_size=4, num_monitor_images=4
)
OUTPUT_FILES = (
    "generator_a2b.keras",
    "generator_b2a.keras",
    "cyclegan.keras",
    "history.csv",
    "learning_curve.png",
    "translations.png",
    "diversity.png",
    "metrics.json",
)


def _subset(source_dir, target_dir, count):
    # Symlinks keep the real files outside the test folder (nothing is copied).
    target_dir.mkdir()
    for path in scan_image_folder(source_dir).paths[:count]:
        (target_dir / path.rsplit("/", 1)[-1]).symlink_to(path)
    return target_dir


@pytest.fixture
def real_subsets(cartoonset_dir, anime_faces_dir, tmp_path):
    return _subset(cartoonset_dir, tmp_path / "cartoon", 16), _subset(anime_faces_dir, tmp_path / "anime", 12)


@pytest.mark.large
def test_cycle_and_identity_losses_fall(real_subsets):
    domain_a, domain_b = real_subsets
    data = cyclegan_lib.unpaired_datasets(domain_a, domain_b, image_size=32, batch_size=2, seed=0)
    model = CycleGAN(image_size=32, generator_filters=8, discriminator_filters=8, num_residual_blocks=1, pool_size=4)
    model.compile(
        generator_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5),
        discriminator_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5),
    )
    history = model.fit(data.dataset, epochs=4, steps_per_epoch=data.steps_per_epoch, verbose=0).history

    assert data.steps_per_epoch == 7  # the larger domain: 14 training images / batch 2
    assert history["cycle_loss"][-1] < history["cycle_loss"][0]
    assert history["identity_loss"][-1] < history["identity_loss"][0]


@pytest.mark.large
def test_trainer_lib_writes_every_output(real_subsets, tmp_path):
    domain_a, domain_b = real_subsets
    model_dir = tmp_path / "run"
    metrics = cyclegan_lib.train(
        model_dir,
        domain_a=domain_a,
        domain_b=domain_b,
        epochs=1,
        batch_size=2,
        image_size=32,
        config=TINY_CONFIG,
        steps_per_epoch=3,
    )

    for name in OUTPUT_FILES:
        assert (model_dir / name).is_file(), f"missing {name}"
    assert not [p.name for p in model_dir.iterdir() if p.name.startswith(".")], "temporary files left behind"
    assert json.loads((model_dir / "metrics.json").read_text()) == metrics
    for direction in ("a2b", "b2a"):
        assert math.isfinite(metrics[direction]["diversity_ratio"])
        assert metrics[direction]["cycle_psnr_db"] > 0
    assert all(math.isfinite(value) for value in metrics["final_losses"].values())

    with open(model_dir / "history.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 1
    assert {"cycle_loss", "diversity_a2b", "diversity_b2a"} <= set(rows[0])


def test_trainer_lib_rejects_bad_flag(tmp_path):
    with pytest.raises(ValueError, match="--epochs"):
        cyclegan_lib.train(tmp_path, epochs=0)
    with pytest.raises(ValueError, match="--decay_start_fraction"):
        cyclegan_lib.train(tmp_path, config=CycleGANConfig(decay_start_fraction=1.5))


def test_jitter_size_grows_by_scale():
    assert cyclegan_lib.jitter_size(256, 1.12) == 287
    assert cyclegan_lib.jitter_size(32, 1.0) == 32
    assert np.isclose(cyclegan_lib.jitter_size(128, 1.12) / 128, 1.12, atol=0.01)
