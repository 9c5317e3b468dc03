import math

import numpy as np
import pytest

from keras_cartoon import losses
from keras_cartoon.kl_schedules import kl_weight_at


def _full(value, num_images=2, size=2):
    return np.full((num_images, size, size, 3), value, dtype=np.float32)


def test_mse_sums_squared_error_per_image():
    value = losses.reconstruction_loss(_full(1.0), _full(0.0), "mse")

    # 2 x 2 x 3 = 12 pixels, each with squared error 1.
    np.testing.assert_allclose(value, [12.0, 12.0])


def test_mse_is_zero_for_identical_images():
    images = np.random.default_rng(0).uniform(-1, 1, (3, 4, 4, 3)).astype("float32")

    np.testing.assert_allclose(losses.reconstruction_loss(images, images, "mse"), np.zeros(3), atol=1e-7)


def test_l1_sums_absolute_error_per_image():
    value = losses.reconstruction_loss(_full(0.0), _full(-0.5), "l1")

    np.testing.assert_allclose(value, [6.0, 6.0])


def test_losses_are_per_image():
    real = np.concatenate([_full(0.0, 1), _full(1.0, 1)])
    reconstructed = _full(0.0)

    np.testing.assert_allclose(losses.reconstruction_loss(real, reconstructed, "mse"), [0.0, 12.0])


def test_bernoulli_at_half_probability():
    # Decoder output 0 maps to p = 0.5, so each pixel costs log 2 for white and black targets.
    for target in (1.0, -1.0):
        value = losses.reconstruction_loss(_full(target), _full(0.0), "bernoulli")

        np.testing.assert_allclose(value, [12 * math.log(2.0)] * 2, rtol=1e-5)


def test_bernoulli_is_finite_at_saturated_output():
    value = losses.reconstruction_loss(_full(1.0), _full(-1.0), "bernoulli")

    assert np.all(np.isfinite(value))
    # Clipped at p = 1e-6: -log(1e-6) = 13.8 nats per pixel.
    np.testing.assert_allclose(value, [12 * -math.log(1e-6)] * 2, rtol=1e-3)


def test_unknown_reconstruction_loss_raises():
    with pytest.raises(ValueError, match="Received: reconstruction_loss='ssim'"):
        losses.reconstruction_loss(_full(0.0), _full(0.0), "ssim")


def test_kl_is_zero_at_prior():
    z = np.zeros((2, 5), np.float32)

    np.testing.assert_allclose(losses.kl_divergence(z, z), [0.0, 0.0], atol=1e-7)


def test_kl_of_shifted_mean():
    z_mean = np.ones((1, 4), np.float32)
    z_log_var = np.zeros((1, 4), np.float32)

    # KL(N(1, 1) || N(0, 1)) = 0.5 nats per dimension.
    np.testing.assert_allclose(losses.kl_divergence(z_mean, z_log_var), [2.0], rtol=1e-6)


def test_kl_of_scaled_variance():
    z_mean = np.zeros((1, 1), np.float32)
    z_log_var = np.full((1, 1), math.log(4.0), np.float32)

    # KL(N(0, 4) || N(0, 1)) = 0.5 * (4 - 1 - log 4).
    expected = 0.5 * (4.0 - 1.0 - math.log(4.0))
    np.testing.assert_allclose(losses.kl_divergence(z_mean, z_log_var), [expected], rtol=1e-6)


def test_free_bits_floors_each_dimension_of_batch_mean():
    # Dimension 0 has KL 0.5 for both images. Dimension 1 has KL 0 and 2, with mean 1.
    z_mean = np.array([[1.0, 0.0], [1.0, 2.0]], np.float32)
    z_log_var = np.zeros((2, 2), np.float32)

    assert float(losses.free_bits_kl(z_mean, z_log_var, 0.0)) == pytest.approx(1.5)
    assert float(losses.free_bits_kl(z_mean, z_log_var, 0.75)) == pytest.approx(0.75 + 1.0)
    assert float(losses.free_bits_kl(z_mean, z_log_var, 2.0)) == pytest.approx(4.0)


@pytest.mark.parametrize("step", [0, 10, 5000])
def test_constant_schedule(step):
    assert float(kl_weight_at(step, 0.5, "constant", 100)) == pytest.approx(0.5)


@pytest.mark.parametrize("step, expected", [(0, 0.0), (25, 0.5), (50, 1.0), (100, 2.0), (1000, 2.0)])
def test_linear_schedule(step, expected):
    assert float(kl_weight_at(step, 2.0, "linear", 100)) == pytest.approx(expected)


@pytest.mark.parametrize(
    "step, expected",
    [(0, 0.0), (50, 0.5), (100, 1.0), (150, 1.0), (199, 1.0), (200, 0.0), (250, 0.5), (300, 1.0)],
)
def test_cyclical_schedule(step, expected):
    assert float(kl_weight_at(step, 1.0, "cyclical", 100)) == pytest.approx(expected)


def test_zero_warmup_is_constant():
    assert float(kl_weight_at(0, 0.3, "linear", 0)) == pytest.approx(0.3)
    assert float(kl_weight_at(7, 0.3, "cyclical", 0)) == pytest.approx(0.3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(schedule="cosine"), "Received: kl_schedule='cosine'"),
        (dict(kl_weight=-1.0), "Received: kl_weight=-1.0"),
        (dict(warmup_steps=-5), "Received: kl_warmup_steps=-5"),
        (dict(warmup_steps=2.5), "Received: kl_warmup_steps=2.5"),
    ],
)
def test_invalid_schedule_arguments_raise(kwargs, message):
    arguments = dict(kl_weight=1.0, schedule="linear", warmup_steps=10)
    arguments.update(kwargs)

    with pytest.raises(ValueError, match=message):
        kl_weight_at(0, **arguments)
