"""The VAE ablation: equal-budget training, resume, metrics table and figures on a tiny 32x32 set."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from keras_cartoon.training import ablation
from tests.conftest import REPO_ROOT
from tests.helpers import structured_images

NUM_IMAGES = 40


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faces")
    images = np.round((structured_images(NUM_IMAGES, 32, seed=7) + 1.0) * 127.5).astype(np.uint8)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"face_{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def ablation_run(data_dir, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("ablation")
    results = ablation.run_ablation(
        output_dir,
        data_dir,
        configs=["baseline", "kl_annealed", "long"],
        epochs=1,
        long_rounds=1,
        image_size=32,
        batch_size=8,
        latent_dim=4,
        kl_warmup_steps=10,
        # A fifth of 40 images leaves enough held-out faces for the latent figures (4 or more).
        validation_fraction=0.2,
        num_samples=16,
        num_figure_images=4,
    )
    return output_dir, results


def test_ablation_scores_every_config_with_every_metric(ablation_run):
    _, results = ablation_run
    assert list(results) == ["baseline", "kl_annealed", "long"]
    for name, row in results.items():
        for key in ablation.TABLE_COLUMNS:
            assert key in row, f"{name} is missing {key}"
            assert np.isfinite(row[key]), f"{name} {key}={row[key]}"
        assert 0 <= row["active_units"] <= 4
        assert 0.0 <= row["ndb_ratio"] <= 1.0


def test_long_config_resumes_the_baseline_optimizer(ablation_run):
    _, results = ablation_run
    # One epoch per round: the resumed run continues the optimizer's step count.
    assert results["baseline"]["steps"] >= 5
    assert results["long"]["steps"] == 2 * results["baseline"]["steps"]
    assert results["long"]["epochs"] == 2
    assert results["long"]["train_seconds"] > results["baseline"]["train_seconds"]


def test_ablation_writes_report_and_figures(ablation_run):
    output_dir, _ = ablation_run
    report = (output_dir / "ablation.md").read_text()
    assert report.count("\n| ") == 4  # header plus three configurations
    assert "| kl_annealed |" in report
    saved = json.loads((output_dir / "ablation.json").read_text())
    assert saved["settings"]["num_samples"] == 16
    # Tiles are 32 pixels with 2-pixel padding, one row per config (plus the real row).
    assert Image.open(output_dir / "samples.png").size == (4 * 34 + 2, 3 * 34 + 2)
    num_shown = min(4, saved["settings"]["num_held_out_images"])
    assert Image.open(output_dir / "reconstructions.png").size == (num_shown * 34 + 2, 4 * 34 + 2)
    for name in ("baseline", "kl_annealed", "long"):
        assert (output_dir / name / "vae.keras").is_file()
        assert (output_dir / name / "latent" / "traversal.png").is_file()


def test_time_budget_stops_after_first_batch(data_dir, tmp_path):
    split = ablation.image_folder_datasets(data_dir, image_size=32, batch_size=8)
    _, record = ablation.train_config(
        "baseline", {"image_size": 32, "latent_dim": 4}, split.train, tmp_path, 5, 1e-9, 1e-3, seed=0
    )
    assert record["steps"] == 1
    assert record["epochs"] == 1


def test_run_ablation_rejects_long_before_baseline(data_dir, tmp_path):
    with pytest.raises(ValueError, match="baseline must come first"):
        ablation.run_ablation(tmp_path, data_dir, configs=["long", "baseline"], image_size=32)


def test_run_ablation_rejects_unknown_config(data_dir, tmp_path):
    with pytest.raises(ValueError, match="configs must be"):
        ablation.run_ablation(tmp_path, data_dir, configs=["bigger"], image_size=32)


def test_trainer_names_bad_configs_flag(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "trainers.ablate_vae", f"--data_dir={tmp_path}", f"--output_dir={tmp_path}", "--configs=bigger"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode != 0
    assert "--configs must list names from" in completed.stderr


def test_trainer_config_names_match_library():
    # A subprocess: importing a trainer defines absl flags process-wide, which
    # would collide with other binaries' flags in this pytest worker.
    completed = subprocess.run(
        [sys.executable, "-c", "from trainers import ablate_vae; print(','.join(ablate_vae._CONFIG_NAMES))"],
        capture_output=True,
        text=True,
        check=True,
    )

    assert completed.stdout.strip().split(",") == list(ablation.ABLATION_CONFIGS)


def test_has_diverged_detects_nan_weights():
    model = ablation.CartoonVAE(image_size=32, encoder_filters=[8] * 4, decoder_filters=[8] * 4, latent_dim=4)
    assert not ablation.has_diverged(model)
    kernel = model.decoder.get_layer("decoder_dense").kernel
    kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))
    assert ablation.has_diverged(model)


def test_report_marks_diverged_config():
    results = {"resnet": {"train_seconds": 5.0, "epochs": 1, "steps": 3, "diverged": True}}
    report = ablation.format_report(results, {"seed": 0})
    row = next(line for line in report.splitlines() if line.startswith("| resnet |"))
    assert "| 3 |" in row
    assert row.count("diverged") == len(ablation.TABLE_COLUMNS) - 3
