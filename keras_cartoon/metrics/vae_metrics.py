"""Held-out ELBO, KL per latent dimension and active units of a VAE.

Every function takes a model with the `CartoonVAE` interface:
`encode(x) -> (z_mean, z_log_var)` and `decode(z) -> x` on [-1, 1] images.
"""

import dataclasses
import math

import keras
import numpy as np

# Spacing of the 256 levels of an 8-bit image on the [-1, 1] scale
# (`keras_cartoon.visualize.to_uint8` maps x to round((x + 1) * 127.5)).
EIGHT_BIT_BIN_WIDTH = 1.0 / 127.5

# Decoder variance on the [-1, 1] scale at which the Gaussian negative
# log-likelihood equals the sum of squared errors plus a constant:
# SSE / (2 * 0.5) = SSE. A VAE trained on SSE + KL at weight 1 optimises this ELBO.
SSE_DECODER_VARIANCE = 0.5

# Laplace scale at which the negative log-likelihood is the sum of absolute
# errors plus a constant, matching the "l1" reconstruction loss.
L1_DECODER_SCALE = 1.0

LIKELIHOODS = ("gaussian", "laplace", "bernoulli")

# The reconstruction loss names of `keras_cartoon.losses` and the likelihood each one assumes.
LIKELIHOOD_OF_LOSS = {"mse": "gaussian", "l1": "laplace", "bernoulli": "bernoulli"}


@dataclasses.dataclass
class ELBOResult:
    """Negative ELBO of a data set, averaged over images.

    Attributes:
        negative_elbo_nats: float. `reconstruction_nats + kl_nats` per image.
        bits_per_dim: float. Negative ELBO in bits per sub-pixel (see `bits_per_dim`).
        reconstruction_nats: float. Monte Carlo estimate of `-E_q[log p(x|z)]` per image.
        kl_nats: float. Analytic `KL(q(z|x) || N(0, I))` per image.
        likelihood: str. `"gaussian"`, `"laplace"` or `"bernoulli"`.
        decoder_variance: float or None. Gaussian variance on the [-1, 1]
            scale (the fitted value with `"fitted"`), or None for the other
            likelihoods.
        laplace_scale: float or None. Laplace scale, or None for the others.
        num_dims: int. Sub-pixels per image, `H * W * 3`.
    """

    negative_elbo_nats: float
    bits_per_dim: float
    reconstruction_nats: float
    kl_nats: float
    likelihood: str
    decoder_variance: float | None
    laplace_scale: float | None
    num_dims: int


def _to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


def _batches(images, batch_size):
    for start in range(0, len(images), batch_size):
        yield images[start : start + batch_size]


def encode_dataset(vae, images, batch_size=64):
    """Encode `(N, H, W, 3)` images in batches and return `(z_mean, z_log_var)`, each `(N, latent_dim)` float64."""
    images = np.asarray(images, dtype=np.float32)
    means, log_vars = [], []
    for batch in _batches(images, batch_size):
        z_mean, z_log_var = vae.encode(batch)
        means.append(_to_numpy(z_mean))
        log_vars.append(_to_numpy(z_log_var))
    return np.concatenate(means), np.concatenate(log_vars)


def gaussian_kl(z_mean, z_log_var):
    """Return `KL(N(mu, sigma^2) || N(0, 1))` in nats for every image and latent dimension, `(N, latent_dim)`."""
    z_mean = np.asarray(z_mean, dtype=np.float64)
    z_log_var = np.asarray(z_log_var, dtype=np.float64)
    return 0.5 * (np.square(z_mean) + np.exp(z_log_var) - 1.0 - z_log_var)


def kl_per_dimension(z_mean, z_log_var):
    """Return the mean KL in nats of each latent dimension over the data, `(latent_dim,)`.

    Dimensions near 0 nats carry no information about the input (posterior
    collapse). The sum over dimensions is the KL term of the ELBO.
    """
    return gaussian_kl(z_mean, z_log_var).mean(axis=0)


def active_units(z_mean, threshold=0.01):
    """Count latent dimensions whose posterior mean varies across the data.

    Burda, Grosse and Salakhutdinov (2016), "Importance Weighted
    Autoencoders": unit u is active when `Cov_x(E_q[u | x]) > 0.01`. The
    threshold assumes a N(0, I) prior. On a few hundred held-out images the
    variance estimate is noisy near the threshold.

    Args:
        z_mean: `(N, latent_dim)` posterior means, N >= 2.
        threshold: float. Defaults to 0.01.

    Returns:
        `(count, variances)`: int and the `(latent_dim,)` variance per dimension.
    """
    z_mean = np.asarray(z_mean, dtype=np.float64)
    if z_mean.ndim != 2 or len(z_mean) < 2:
        raise ValueError(
            f"active_units needs z_mean of shape (N, latent_dim) with N >= 2. Received: z_mean.shape={z_mean.shape}"
        )
    variances = z_mean.var(axis=0, ddof=1)
    return int(np.sum(variances > threshold)), variances


def gaussian_negative_log_likelihood(x, x_decoded, variance=SSE_DECODER_VARIANCE):
    """Return `-log N(x; x_decoded, variance * I)` in nats per image, `(N,)`.

    The formula is `SSE / (2 * variance) + D / 2 * log(2 * pi * variance)` with
    D = H * W * 3 and both images on the [-1, 1] scale.
    """
    sse, num_dims = _error_sums(x, x_decoded, np.square)
    return _gaussian_nll_from_sse(sse, num_dims, variance)


def _error_sums(x, x_decoded, elementwise):
    """Return the per-image sum of `elementwise(x - x_decoded)` and the number of sub-pixels."""
    x = np.asarray(x, dtype=np.float64)
    x_decoded = np.asarray(x_decoded, dtype=np.float64)
    return elementwise(x - x_decoded).reshape(len(x), -1).sum(axis=1), int(np.prod(x.shape[1:]))


def _gaussian_nll_from_sse(sse, num_dims, variance):
    return sse / (2.0 * variance) + 0.5 * num_dims * math.log(2.0 * math.pi * variance)


def _laplace_nll_from_sae(sae, num_dims, scale):
    return sae / scale + num_dims * math.log(2.0 * scale)


def laplace_negative_log_likelihood(x, x_decoded, scale=L1_DECODER_SCALE):
    """Return `-log Laplace(x; x_decoded, scale)` in nats per image, `(N,)`: `SAE / scale + D * log(2 * scale)`."""
    sae, num_dims = _error_sums(x, x_decoded, np.abs)
    return _laplace_nll_from_sae(sae, num_dims, scale)


def bernoulli_negative_log_likelihood(x, x_decoded, eps=1e-6):
    """Return the binary cross-entropy in nats per image, `(N,)`, with pixels mapped to [0, 1].

    NOTE: for grey levels between 0 and 1 this is not a normalised likelihood,
    so the result is not a bound on any density of the images. It only matches
    the `"bernoulli"` reconstruction loss of `keras_cartoon.losses`.
    """
    target = (np.asarray(x, dtype=np.float64) + 1.0) * 0.5
    probability = np.clip((np.asarray(x_decoded, dtype=np.float64) + 1.0) * 0.5, eps, 1.0 - eps)
    cross_entropy = -(target * np.log(probability) + (1.0 - target) * np.log(1.0 - probability))
    return cross_entropy.reshape(len(target), -1).sum(axis=1)


def bits_per_dim(nats_per_image, num_dims, likelihood="gaussian"):
    """Convert a negative log-likelihood in nats per image to bits per sub-pixel.

    For the Gaussian and Laplace (densities on [-1, 1]) the probability of an 8-bit bin is
    approximated by density times bin width, 1/127.5 per sub-pixel, so
    `bpd = (nats + D * log(127.5)) / (D * log 2)`, comparable with discrete
    8-bit figures. The Bernoulli value is already a per-pixel probability, so
    it is only divided by `D * log 2`.
    """
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}. Received: likelihood={likelihood!r}")
    nats = float(nats_per_image)
    if likelihood != "bernoulli":
        nats -= num_dims * math.log(EIGHT_BIT_BIN_WIDTH)
    return nats / (num_dims * math.log(2.0))


def _check_decoder_parameter(name, value):
    if value == "fitted":
        return
    if isinstance(value, str) or not value > 0:
        raise ValueError(f'{name} must be a positive number or "fitted". Received: {name}={value!r}')


def negative_elbo(
    vae,
    images,
    likelihood="gaussian",
    decoder_variance=SSE_DECODER_VARIANCE,
    laplace_scale=L1_DECODER_SCALE,
    num_samples=1,
    seed=0,
    batch_size=64,
):
    """Estimate the negative ELBO of held-out images, in nats per image and bits per dim.

    `-ELBO = -E_q(z|x)[log p(x|z)] + KL(q(z|x) || N(0, I))`. The KL is exact;
    the expectation is a Monte Carlo mean over `num_samples` draws of z per
    image (reparameterised with a seeded NumPy generator).

    Likelihood assumption: a VAE trained on the sum of squared errors has a
    Gaussian decoder of fixed variance. With `decoder_variance=0.5` (on the
    [-1, 1] scale) the reconstruction term is `SSE + D/2 * log(pi)`, so the
    training loss at KL weight 1 equals this negative ELBO minus a constant.
    The absolute nats and bits per dim depend on that assumed variance, which
    the SSE loss never fits, so only differences between models evaluated with the
    same variance are meaningful. `decoder_variance="fitted"` uses the maximum
    likelihood variance `mean(SSE) / D` of the evaluated images instead: a
    tighter figure for comparing with other density models, slightly optimistic
    because one parameter is fitted on the test images. `likelihood="laplace"`
    (scale 1, or `laplace_scale="fitted"`) matches the `"l1"` loss the same way,
    and `"bernoulli"` scores the binary cross-entropy objective.
    `LIKELIHOOD_OF_LOSS` maps each training loss to its likelihood.

    Args:
        vae: model with `encode` and `decode` (see module docstring).
        images: `(N, H, W, 3)` in [-1, 1], not used in training.
        likelihood: str. `"gaussian"`, `"laplace"` or `"bernoulli"`.
            Defaults to `"gaussian"`.
        decoder_variance: float > 0 or `"fitted"`. Gaussian variance. Defaults to 0.5.
        laplace_scale: float > 0 or `"fitted"`. Laplace scale. Defaults to 1.0.
        num_samples: int >= 1. Draws of z per image. Defaults to 1.
        seed: int. Defaults to 0.
        batch_size: int. Defaults to 64.

    Returns:
        `ELBOResult`.
    """
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}. Received: likelihood={likelihood!r}")
    _check_decoder_parameter("decoder_variance", decoder_variance)
    _check_decoder_parameter("laplace_scale", laplace_scale)
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1. Received: num_samples={num_samples}")
    images = np.asarray(images, dtype=np.float32)
    num_dims = int(np.prod(images.shape[1:]))
    rng = np.random.default_rng(seed)

    # Per image: the SSE, SAE or cross-entropy averaged over the z draws. The
    # Gaussian and Laplace NLLs are linear in SSE and SAE, so the mean error is
    # enough, and it also gives the fitted variance or scale.
    errors, kl = [], []
    for batch in _batches(images, batch_size):
        z_mean, z_log_var = vae.encode(batch)
        z_mean, z_log_var = _to_numpy(z_mean), _to_numpy(z_log_var)
        kl.append(gaussian_kl(z_mean, z_log_var).sum(axis=1))

        batch_errors = np.zeros(len(batch))
        for _ in range(num_samples):
            z = z_mean + np.exp(0.5 * z_log_var) * rng.standard_normal(z_mean.shape)
            decoded = _to_numpy(vae.decode(z.astype(np.float32)))
            if likelihood == "gaussian":
                batch_errors += _error_sums(batch, decoded, np.square)[0]
            elif likelihood == "laplace":
                batch_errors += _error_sums(batch, decoded, np.abs)[0]
            else:
                batch_errors += bernoulli_negative_log_likelihood(batch, decoded)
        errors.append(batch_errors / num_samples)
    errors = np.concatenate(errors)

    if likelihood == "gaussian":
        if decoder_variance == "fitted":
            decoder_variance = float(errors.mean() / num_dims)
        reconstruction_nats = float(_gaussian_nll_from_sse(errors, num_dims, decoder_variance).mean())
    elif likelihood == "laplace":
        if laplace_scale == "fitted":
            laplace_scale = float(errors.mean() / num_dims)
        reconstruction_nats = float(_laplace_nll_from_sae(errors, num_dims, laplace_scale).mean())
    else:
        reconstruction_nats = float(errors.mean())
    kl_nats = float(np.concatenate(kl).mean())
    total = reconstruction_nats + kl_nats
    return ELBOResult(
        negative_elbo_nats=total,
        bits_per_dim=bits_per_dim(total, num_dims, likelihood),
        reconstruction_nats=reconstruction_nats,
        kl_nats=kl_nats,
        likelihood=likelihood,
        decoder_variance=decoder_variance if likelihood == "gaussian" else None,
        laplace_scale=laplace_scale if likelihood == "laplace" else None,
        num_dims=num_dims,
    )
