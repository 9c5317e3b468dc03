"""VAE losses, one value per image, in float32.

Images are in [-1, 1]. Sums run over every pixel and channel, so a loss is the
negative log-likelihood of one image up to a constant: Gaussian for `"mse"`,
Laplace for `"l1"`, Bernoulli for `"bernoulli"`. That puts it on the same scale
as the KL term, which is summed over latent dimensions.
"""

from keras import ops

RECONSTRUCTION_LOSSES = ("mse", "l1", "bernoulli")

# Keeps log(p) and log(1 - p) finite when tanh saturates at -1 or 1 in float32.
_BERNOULLI_EPSILON = 1e-6


def _sum_per_image(values):
    return ops.sum(ops.reshape(values, (ops.shape(values)[0], -1)), axis=-1)


def reconstruction_loss(real_images, reconstructed_images, kind="mse"):
    """Compute the reconstruction loss of each image.

    Args:
        real_images: `(B, H, W, C)` in [-1, 1].
        reconstructed_images: `(B, H, W, C)` in [-1, 1] (the decoder's tanh).
        kind: str. `"mse"`: sum of squared errors. `"l1"`: sum of absolute
            errors. `"bernoulli"`: binary cross-entropy summed over pixels,
            with both images mapped to [0, 1] first. Defaults to `"mse"`.

    Returns:
        float32 tensor `(B,)`.
    """
    real_images = ops.cast(real_images, "float32")
    reconstructed_images = ops.cast(reconstructed_images, "float32")
    if kind == "mse":
        return _sum_per_image(ops.square(real_images - reconstructed_images))
    if kind == "l1":
        return _sum_per_image(ops.abs(real_images - reconstructed_images))
    if kind == "bernoulli":
        targets = (real_images + 1.0) / 2.0
        probabilities = ops.clip((reconstructed_images + 1.0) / 2.0, _BERNOULLI_EPSILON, 1.0 - _BERNOULLI_EPSILON)
        log_likelihood = targets * ops.log(probabilities) + (1.0 - targets) * ops.log(1.0 - probabilities)
        return -_sum_per_image(log_likelihood)
    raise ValueError(
        f"`reconstruction_loss` must be one of {list(RECONSTRUCTION_LOSSES)}. Received: reconstruction_loss={kind!r}"
    )


def kl_divergence_per_dimension(z_mean, z_log_var):
    """Compute KL(N(z_mean, exp(z_log_var)) || N(0, 1)) in nats for each latent dimension.

    Returns:
        float32 tensor `(B, latent_dim)`, each entry >= 0.
    """
    z_mean = ops.cast(z_mean, "float32")
    z_log_var = ops.cast(z_log_var, "float32")
    return -0.5 * (1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))


def kl_divergence(z_mean, z_log_var):
    """Compute the analytic KL divergence of each image's posterior from N(0, I), in nats.

    Returns:
        float32 tensor `(B,)`.
    """
    return ops.sum(kl_divergence_per_dimension(z_mean, z_log_var), axis=-1)


def free_bits_kl(z_mean, z_log_var, free_bits):
    """Compute the KL penalty with a floor of `free_bits` nats per latent dimension.

    The KL of each dimension is averaged over the batch, raised to at least
    `free_bits`, then summed over dimensions, as in Kingma et al. (2016),
    "Improved Variational Inference with Inverse Autoregressive Flow". A
    dimension below the floor gets no gradient, so the encoder is not pushed to
    collapse it onto the prior.

    Returns:
        float32 scalar, the batch-level KL penalty.
    """
    kl_per_dimension = ops.mean(kl_divergence_per_dimension(z_mean, z_log_var), axis=0)
    return ops.sum(ops.maximum(kl_per_dimension, ops.cast(free_bits, "float32")))
