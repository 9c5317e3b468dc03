"""Negative ELBO, KL per dimension and active units, on stand-ins with known values and the real VAE."""

import math

import keras
import numpy as np
import pytest

from keras_cartoon.metrics import vae_metrics
from keras_cartoon.metrics.vae_metrics import active_units, encode_dataset, kl_per_dimension, negative_elbo
from keras_cartoon.models import CartoonVAE


class ConstantVAE:
    """Posterior N(1, 1) in every dim and a decoder that outputs 0.5 everywhere, whatever z is."""

    latent_dim = 2

    def encode(self, images):
        batch = len(images)
        return np.ones((batch, self.latent_dim)), np.zeros((batch, self.latent_dim))

    def decode(self, z):
        return np.full((len(z), 4, 4, 3), 0.5, dtype=np.float32)


class PartlyActiveVAE:
    """An encoder whose first `num_active` means follow the image while the rest are constant."""

    def __init__(self, latent_dim, num_active):
        self.latent_dim = latent_dim
        self.num_active = num_active
        self.projection = np.random.default_rng(0).normal(size=(4 * 4 * 3, num_active))

    def encode(self, images):
        images = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        z_mean = np.full((len(images), self.latent_dim), 0.3)
        z_mean[:, : self.num_active] = images @ self.projection
        return z_mean, np.zeros_like(z_mean)

    def decode(self, z):
        return np.zeros((len(z), 4, 4, 3), dtype=np.float32)


def tiny_vae(**kwargs):
    return CartoonVAE(image_size=32, encoder_filters=[8] * 4, decoder_filters=[8] * 4, latent_dim=8, seed=0, **kwargs)


def random_images(num_images, size=4, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=(num_images, size, size, 3)).astype(np.float32)


def test_gaussian_elbo_matches_hand_computation():
    images = np.zeros((3, 4, 4, 3), dtype=np.float32)
    result = negative_elbo(ConstantVAE(), images)

    # D = 48 sub-pixels, each error 0.5: SSE = 12, variance 0.5 so SSE / (2 * 0.5) = 12,
    # plus D / 2 * log(2 * pi * 0.5). KL of N(1, 1) from N(0, 1) is 0.5 nats per dim.
    expected_reconstruction = 12.0 + 24.0 * math.log(math.pi)
    expected_total = expected_reconstruction + 1.0
    assert result.num_dims == 48
    assert result.reconstruction_nats == pytest.approx(expected_reconstruction)
    assert result.kl_nats == pytest.approx(1.0)
    assert result.negative_elbo_nats == pytest.approx(expected_total)
    expected_bits = (expected_total + 48 * math.log(127.5)) / (48 * math.log(2))
    assert result.bits_per_dim == pytest.approx(expected_bits)


def test_laplace_elbo_matches_hand_computation():
    images = np.zeros((2, 4, 4, 3), dtype=np.float32)
    result = negative_elbo(ConstantVAE(), images, likelihood="laplace")
    # SAE = 48 * 0.5 = 24 with scale 1, plus D * log(2).
    assert result.reconstruction_nats == pytest.approx(24.0 + 48 * math.log(2.0))
    assert result.laplace_scale == 1.0
    assert result.decoder_variance is None


def test_bernoulli_elbo_matches_hand_computation():
    # Target pixel 0.5 on [0, 1], prediction 0.75: -(0.5 log 0.75 + 0.5 log 0.25) per sub-pixel.
    images = np.zeros((2, 4, 4, 3), dtype=np.float32)
    result = negative_elbo(ConstantVAE(), images, likelihood="bernoulli")
    per_pixel = -(0.5 * math.log(0.75) + 0.5 * math.log(0.25))
    assert result.reconstruction_nats == pytest.approx(48 * per_pixel, rel=1e-6)
    assert result.bits_per_dim == pytest.approx((48 * per_pixel + 1.0) / (48 * math.log(2)), rel=1e-6)


def test_elbo_rejects_unknown_likelihood():
    with pytest.raises(ValueError, match="likelihood"):
        negative_elbo(ConstantVAE(), random_images(2), likelihood="poisson")


def test_active_units_counts_dims_the_encoder_uses():
    vae = PartlyActiveVAE(latent_dim=10, num_active=3)
    z_mean, _ = encode_dataset(vae, random_images(50), batch_size=16)
    count, variances = active_units(z_mean)
    assert count == 3
    assert variances.shape == (10,)
    np.testing.assert_allclose(variances[3:], 0.0, atol=1e-20)


def test_active_units_threshold_is_strict():
    # Sample variances (ddof=1) are exactly 0.5 and 0.005.
    z_mean = np.array([[-0.5, -0.05], [0.5, 0.05]])
    assert active_units(z_mean)[0] == 1
    assert active_units(z_mean, threshold=0.5)[0] == 0


def test_kl_per_dimension_is_zero_at_the_prior():
    kl = kl_per_dimension(np.zeros((4, 3)), np.zeros((4, 3)))
    np.testing.assert_array_equal(kl, 0.0)


def test_kl_per_dimension_matches_formula():
    # KL(N(0, e^2) || N(0, 1)) = 0.5 * (e^2 - 1 - 2).
    kl = kl_per_dimension(np.zeros((1, 1)), np.full((1, 1), 2.0))
    assert kl[0] == pytest.approx(0.5 * (math.exp(2.0) - 3.0))


def test_real_vae_kl_matches_its_evaluate():
    vae = tiny_vae()
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    images = random_images(4, size=32)
    result = negative_elbo(vae, images, batch_size=2)
    logs = vae.evaluate(images, batch_size=4, verbose=0, return_dict=True)
    assert result.kl_nats == pytest.approx(float(logs["kl_loss"]), rel=1e-4)
    assert math.isfinite(result.bits_per_dim)


def test_real_vae_elbo_is_reproducible_for_a_seed():
    vae = tiny_vae()
    images = random_images(4, size=32)
    first = negative_elbo(vae, images, num_samples=2, seed=1)
    second = negative_elbo(vae, images, num_samples=2, seed=1)
    assert first.negative_elbo_nats == second.negative_elbo_nats


def test_likelihood_of_every_training_loss_is_known():
    from keras_cartoon import losses

    assert set(vae_metrics.LIKELIHOOD_OF_LOSS) == set(losses.RECONSTRUCTION_LOSSES)


def test_fitted_variance_is_the_mean_squared_error():
    # Every sub-pixel error is 0.5, so the maximum-likelihood variance is 0.25
    # and the reconstruction term is D / 2 + D / 2 * log(2 * pi * 0.25).
    images = np.zeros((2, 4, 4, 3), dtype=np.float32)
    result = negative_elbo(ConstantVAE(), images, decoder_variance="fitted")
    assert result.decoder_variance == pytest.approx(0.25)
    assert result.reconstruction_nats == pytest.approx(24.0 + 24.0 * math.log(2 * math.pi * 0.25))


def test_fitted_variance_never_scores_worse_than_fixed():
    images = random_images(3)
    fixed = negative_elbo(ConstantVAE(), images)
    fitted = negative_elbo(ConstantVAE(), images, decoder_variance="fitted")
    assert fitted.negative_elbo_nats <= fixed.negative_elbo_nats


def test_elbo_rejects_non_positive_variance():
    with pytest.raises(ValueError, match="decoder_variance must be a positive number"):
        negative_elbo(ConstantVAE(), random_images(2), decoder_variance=0.0)
