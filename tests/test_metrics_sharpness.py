"""Laplacian variance, gradient energy and the sharpness ratio."""

import numpy as np
import pytest
import tensorflow as tf

from keras_cartoon.metrics.sharpness import gradient_energy, laplacian_variance, mean_sharpness, sharpness_ratio
from tests.helpers import structured_images


def box_blur(images, size=3):
    """Average over a `size` x `size` window with edge padding, keeping the image size."""
    kernel = np.full((size, size, 1, 1), 1.0 / size**2, dtype=np.float32)
    kernel = np.tile(kernel, (1, 1, 3, 1))
    pad = size // 2
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    return tf.nn.depthwise_conv2d(padded, kernel, strides=[1, 1, 1, 1], padding="VALID").numpy()


@pytest.mark.parametrize("method", ["laplacian", "gradient"])
def test_sharpness_ratio_of_set_with_itself_is_one(method):
    images = structured_images(3, 32)
    assert sharpness_ratio(images, images, method) == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["laplacian", "gradient"])
def test_sharpness_ratio_of_blurred_copy_is_below_one(method):
    images = structured_images(3, 32) + np.random.default_rng(0).normal(0, 0.05, (3, 32, 32, 3)).astype(np.float32)
    images = np.clip(images, -1, 1)
    assert sharpness_ratio(box_blur(images), images, method) < 0.7


@pytest.mark.parametrize("method", ["laplacian", "gradient"])
def test_sharpness_ratio_of_noisy_copy_is_above_one(method):
    images = structured_images(3, 32)
    noisy = np.clip(images + np.random.default_rng(1).normal(0, 0.2, images.shape), -1, 1)
    assert sharpness_ratio(noisy, images, method) > 1.0


def test_constant_image_has_zero_sharpness():
    constant = np.full((2, 16, 16, 3), 0.2, dtype=np.float32)
    np.testing.assert_array_equal(laplacian_variance(constant), 0.0)
    np.testing.assert_array_equal(gradient_energy(constant), 0.0)


def test_gradient_energy_of_vertical_stripes_matches_hand_value():
    # Columns alternate -1 and 1 on [-1, 1], i.e. luma 0 and 1: every horizontal
    # difference is +-1 and every vertical difference 0.
    stripes = np.tile(np.array([-1.0, 1.0], dtype=np.float32), 8)[None, None, :, None]
    stripes = np.broadcast_to(stripes, (1, 16, 16, 3))
    assert gradient_energy(stripes)[0] == pytest.approx(1.0)


def test_sharpness_ratio_rejects_constant_real_images():
    constant = np.zeros((2, 16, 16, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="zero sharpness"):
        sharpness_ratio(structured_images(2, 16), constant)


def test_sharpness_ratio_rejects_mismatched_resolution():
    with pytest.raises(ValueError, match="same height and width"):
        sharpness_ratio(structured_images(2, 16), structured_images(2, 32))


def test_mean_sharpness_rejects_unknown_method():
    with pytest.raises(ValueError, match="method"):
        mean_sharpness(structured_images(1, 16), method="sobel")
