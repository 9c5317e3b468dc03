"""PSNR, SSIM, MS-SSIM and MS-SSIM diversity on images with known values."""

import math

import numpy as np
import pytest

from keras_cartoon.metrics import image_quality
from keras_cartoon.metrics.diversity import diversity
from keras_cartoon.metrics.image_quality import PSNR_CAP_DB, ms_ssim, psnr, ssim
from tests.helpers import structured_images


def test_psnr_of_identical_images_is_the_cap():
    images = structured_images(3, 32)
    per_image = psnr(images, images, reduction="none")
    assert per_image.shape == (3,)
    np.testing.assert_array_equal(per_image, PSNR_CAP_DB)
    assert psnr(images, images) == PSNR_CAP_DB


def test_psnr_of_constant_images_matches_formula():
    # 0.0 and 0.5 on [-1, 1] are 0.5 and 0.75 on [0, 1]: MSE 0.0625.
    a = np.zeros((2, 16, 16, 3), dtype=np.float32)
    b = np.full((2, 16, 16, 3), 0.5, dtype=np.float32)
    assert psnr(a, b) == pytest.approx(10 * math.log10(1 / 0.0625), abs=1e-4)


def test_psnr_of_uniform_noise_matches_expectation():
    # Two independent U(0, 1) images have E[(a - b)^2] = 1/6, so PSNR -> 10 log10(6).
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, size=(4, 64, 64, 3)).astype(np.float32)
    b = rng.uniform(-1, 1, size=(4, 64, 64, 3)).astype(np.float32)
    assert psnr(a, b) == pytest.approx(10 * math.log10(6), abs=0.1)


def test_shifted_copy_scores_below_identical():
    images = structured_images(2, 32)
    shifted = np.roll(images, shift=2, axis=2)
    shifted_psnr = psnr(images, shifted)
    assert math.isfinite(shifted_psnr)
    assert shifted_psnr < PSNR_CAP_DB
    assert ssim(images, shifted) < 0.99
    assert ms_ssim(images, shifted) < 0.99


def test_ssim_of_identical_images_is_one():
    images = structured_images(2, 32)
    np.testing.assert_allclose(ssim(images, images, reduction="none"), 1.0, atol=1e-5)


def test_ssim_of_independent_noise_is_near_zero():
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype(np.float32)
    b = rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype(np.float32)
    assert abs(ssim(a, b)) < 0.05


def test_ssim_of_identical_constant_images_is_one():
    constant = np.full((1, 16, 16, 3), 0.3, dtype=np.float32)
    assert ssim(constant, constant) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("size", [32, 128])
def test_ms_ssim_of_identical_images_is_one(size):
    images = structured_images(2, size)
    assert ms_ssim(images, images) == pytest.approx(1.0, abs=1e-5)


def test_ms_ssim_of_noise_is_low():
    rng = np.random.default_rng(2)
    a = rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype(np.float32)
    b = rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype(np.float32)
    assert ms_ssim(a, b) < 0.2


def test_ms_ssim_window_shrinks_at_32_pixels():
    assert image_quality._window_for(128, 128, num_scales=3) == (11, 1.5)
    filter_size, filter_sigma = image_quality._window_for(32, 32, num_scales=3)
    assert filter_size == 7
    assert filter_sigma == pytest.approx(1.5 * 7 / 11)


def test_ms_ssim_rejects_images_too_small_for_scales():
    images = structured_images(1, 8)
    with pytest.raises(ValueError, match="too small for 3-scale SSIM"):
        ms_ssim(images, images, num_scales=3)


def test_ms_ssim_weights_sum_to_one():
    weights = image_quality.ms_ssim_weights(3)
    assert len(weights) == 3
    assert sum(weights) == pytest.approx(1.0)


def test_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        psnr(np.zeros((1, 16, 16, 3)), np.zeros((1, 32, 32, 3)))


def test_metrics_reject_grayscale_input():
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        ssim(np.zeros((1, 16, 16)), np.zeros((1, 16, 16)))


def test_metrics_reject_unknown_reduction():
    with pytest.raises(ValueError, match="reduction"):
        psnr(np.zeros((1, 16, 16, 3)), np.zeros((1, 16, 16, 3)), reduction="sum")



def test_diversity_of_repeated_image_is_zero():
    repeated = np.repeat(structured_images(1, 32), 4, axis=0)
    assert diversity(repeated) == pytest.approx(0.0, abs=1e-5)


def test_diversity_of_noise_is_high():
    noise = np.random.default_rng(3).uniform(-1, 1, size=(5, 32, 32, 3)).astype(np.float32)
    assert diversity(noise) > 0.8
