"""Tests of the benchmark harness on a tiny configuration: structure only, never speed."""

import importlib.util
import json
import os

import numpy as np
import pytest

from benchmarks import flops
from benchmarks import report
from benchmarks import settings as settings_lib
from benchmarks import stats
from benchmarks.harness import output_paths
from benchmarks.harness import run_benchmarks
from benchmarks.harness import write_outputs
from tests.conftest import CARTOONSET_DIR
from tests.conftest import require_dir

TINY_SECTIONS = ("vae", "flops")


# PyTorch is the benchmark's other contender and comes with the `bench` extra
# (`make test` installs it); a plain `pip install -e .[test]` lacks it.
needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="PyTorch is not installed; install the bench extra: pip install -e '.[test,bench]'",
)


def _check_results_json(results):
    assert set(results) >= {"command", "settings", "machine", "sections", "wall_s", "load_average_at_end"}
    assert results["settings"]["preset"] == "tiny"
    assert list(results["sections"]) == list(TINY_SECTIONS)
    assert results["machine"]["logical_cores"] >= 1
    assert results["machine"]["packages"]["torch"]


def _check_vae_section(vae):
    assert vae["status"] == "ok"
    contenders = vae["contenders"]
    assert set(contenders) == {"keras", "torch"}
    for name, result in contenders.items():
        assert result["status"] == "ok", f"{name}: {result.get('error')}"
        # 1 repetition of 2 timed steps, after 1 warm-up step.
        assert len(result["step_s"]) == 1, name
        assert len(result["step_s"][0]) == 2, name
        assert len(result["warmup_step_s"]) == 1, name
        assert result["images_per_s"]["median"] > 0, name
        assert result["peak_rss_mib"] >= result["rss_after_setup_mib"], name
    assert contenders["keras"]["model"]["parameters"] == contenders["torch"]["model"]["parameters"]


def _check_flops_section(section):
    assert section["status"] == "ok"
    for key, counts in section["models"].items():
        assert counts["torch"]["status"] == "ok", counts["torch"].get("error")
        assert counts["keras"]["status"] == "ok", counts["keras"].get("error")
        torch_counts, keras_counts = counts["torch"]["value"], counts["keras"]["value"]
        assert torch_counts["analytic_train_flops"] == torch_counts["torch_counter_train_flops"], key
        # The Keras graph also contains gradients that the runtime prunes, so it may read higher.
        tf_flops = keras_counts["tf_conv_matmul_train_flops"]
        assert torch_counts["analytic_train_flops"] <= tf_flops <= 1.5 * torch_counts["analytic_train_flops"], key
    assert section["peak_gflops"] > 0


@needs_torch
def test_tiny_run_writes_valid_outputs(tmp_path):
    # One test for the whole run, so pytest-xdist never runs the harness twice.
    settings = settings_lib.tiny_settings(sections=TINY_SECTIONS)
    results = run_benchmarks(settings, command="python -m benchmarks.run --preset=tiny")
    markdown_path, json_path = output_paths(tmp_path)
    write_outputs(results, markdown_path, json_path)

    assert markdown_path.is_file()
    assert json_path.is_file()
    written = json.loads(json_path.read_text())
    _check_results_json(written)
    _check_vae_section(written["sections"]["vae"])
    _check_flops_section(written["sections"]["flops"])

    text = markdown_path.read_text()
    assert "python -m benchmarks.run --preset=tiny" in text
    assert "## Machine" in text
    assert "## 1. VAE training throughput" in text
    assert "## 6. FLOPs per training step" in text
    # Sections not selected are listed with the reason.
    assert "Not measured (skipped): section not selected" in text


def test_summarize_median_and_quartiles():
    summary = stats.summarize([3.0, 1.0, 2.0, 10.0])
    assert summary["median"] == 2.5
    assert summary["min"] == 1.0
    assert summary["max"] == 10.0
    assert summary["q1"] == pytest.approx(1.75)
    assert summary["q3"] == pytest.approx(4.75)
    assert stats.summarize([]) is None


def test_rotated_gives_each_contender_first_turn():
    names = ["keras", "keras_xla", "torch"]
    firsts = [stats.rotated(names, repetition)[0] for repetition in range(3)]
    assert firsts == names


@needs_torch
def test_vae_train_flops_formula_from_layer_shapes():
    import torch

    from benchmarks import torch_models

    model = torch_models.TorchVAE(image_size=32)
    layers = flops.forward_macs_by_layer(model.encoder, torch.zeros((2, 3, 32, 32)))
    # First conv: 16x16x8 outputs, each 4*4*3 multiply-accumulates, batch 2.
    assert layers[0][1] == 2 * 16 * 16 * 8 * 4 * 4 * 3
    assert flops.vae_train_flops(layers) == 2 * (3 * sum(macs for _, macs in layers) - layers[0][1])


@needs_torch
def test_torch_generator_output_matches_keras_shape():
    import torch

    from benchmarks import torch_models

    generator = torch_models.resnet_generator(filters=8, num_residual_blocks=1)
    discriminator = torch_models.patchgan_discriminator(filters=8)
    images = torch.zeros((1, 3, 32, 32))
    assert tuple(generator(images).shape) == (1, 3, 32, 32)
    # Keras PatchGAN with "same" padding: 32 / 2**3 = 4.
    assert tuple(discriminator(images).shape) == (1, 1, 4, 4)


def test_report_renders_skipped_pipeline_reason():
    results = {
        "command": "python -m benchmarks.run --sections=pipeline",
        "settings": settings_lib.tiny_settings(sections=("pipeline",)).to_json(),
        "machine": {
            "cpu_model": "test CPU",
            "cpu_flags": [],
            "logical_cores": 2,
            "physical_cores": 2,
            "memory_gib": 1.0,
            "os": "test",
            "python": "3",
            "packages": {"torch": "x"},
            "load_average_at_start": [0.0, 0.0, 0.0],
            "started_at": "now",
        },
        "sections": {"pipeline": {"status": "skipped", "reason": "Cartoon Set PNGs not found at /nowhere"}},
        "wall_s": 1.0,
        "load_average_at_end": [0.0, 0.0, 0.0],
    }
    text = report.render_markdown(results)
    assert "Not measured (skipped): Cartoon Set PNGs not found at /nowhere" in text
    assert "busy with other processes" not in text


@pytest.mark.large
def test_pipeline_and_inference_sections_on_real_files(tmp_path):
    data_dir = tmp_path / "cartoonset"
    data_dir.mkdir()
    # Links, not copies, to 24 real 500x500 PNGs keep the scan short.
    for name in sorted(os.listdir(require_dir(CARTOONSET_DIR)))[:24]:
        (data_dir / name).symlink_to(CARTOONSET_DIR / name)
    settings = settings_lib.tiny_settings(sections=("pipeline", "inference"), data_dir=str(data_dir))
    results = run_benchmarks(settings, command="test")

    pipeline = results["sections"]["pipeline"]
    assert pipeline["status"] == "ok", pipeline.get("reason")
    assert pipeline["files"] == 24
    assert pipeline["first_epoch_images_per_s"]["median"] > 0
    assert pipeline["training"]["later_epoch_steps"] == 24 // settings.pipeline_batch_size

    inference = results["sections"]["inference"]
    assert inference["status"] == "ok", inference.get("reason")
    for part in ("decoder", "generator"):
        for variant in settings.inference_variants:
            assert inference["export"][part]["variants"][variant]["size_bytes"] > 0
            assert f"{part}/{variant}" in inference["contenders"]
    float32_error = inference["export"]["decoder"]["variants"]["float32"]["max_abs_error_vs_keras"]
    assert np.isfinite(float32_error)
    assert float32_error < 1e-4


def _randomize_batchnorm_statistics(model, rng):
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma.shape),
                    rng.normal(0.0, 0.1, beta.shape),
                    rng.normal(0.0, 0.1, mean.shape),
                    rng.uniform(0.5, 2.0, variance.shape),
                ]
            )


def test_subpixel_decoder_matches_keras_decoder():
    from export.subpixel import subpixel_decoder
    from keras_cartoon.models.vae import CartoonVAE

    rng = np.random.default_rng(0)
    vae = CartoonVAE(image_size=32)
    _randomize_batchnorm_statistics(vae.decoder, rng)
    rewritten = subpixel_decoder(vae.decoder)
    latent = rng.standard_normal((3, vae.latent_dim)).astype(np.float32)

    expected = np.asarray(vae.decoder(latent, training=False))
    actual = np.asarray(rewritten(latent, training=False))
    assert actual.shape == (3, 32, 32, 3)
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_fused_batchnorm_patch_matches_keras(monkeypatch):
    import keras
    import tensorflow as tf

    from benchmarks import keras_experiments

    images = np.random.default_rng(0).normal(2.0, 3.0, (4, 8, 8, 5)).astype(np.float32)

    def train_once():
        keras.utils.set_random_seed(0)
        layer = keras.layers.BatchNormalization()
        with tf.GradientTape() as tape:
            outputs = layer(images, training=True)
            loss = tf.reduce_sum(outputs * tf.range(5, dtype=tf.float32))
        gamma_gradient = tape.gradient(loss, layer.gamma)
        return outputs.numpy(), gamma_gradient.numpy(), layer.moving_mean.numpy(), layer(images).numpy()

    expected = train_once()
    original_call = keras.layers.BatchNormalization.call
    monkeypatch.setattr(keras.layers.BatchNormalization, "call", keras_experiments._fused_call(original_call))
    actual = train_once()

    names = ("outputs", "gamma gradient", "moving mean", "inference outputs")
    for name, actual_value, expected_value in zip(names, actual, expected):
        # Inference differs by Bessel's correction of the moving variance (256 values per channel).
        np.testing.assert_allclose(actual_value, expected_value, rtol=1e-3, atol=1e-3, err_msg=name)
