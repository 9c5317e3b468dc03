"""Full-reference image quality: PSNR, SSIM and multi-scale SSIM.

All functions take two batches of float images in [-1, 1], shape `(N, H, W, 3)`
(a single `(H, W, 3)` image is treated as a batch of one), map them to [0, 1]
and call the TensorFlow implementations with `max_val=1.0`. They compare pixels
only, so they reward blur over a sharp image with small misalignments: report
them next to `sharpness_ratio` and sample diversity, never alone.
"""

import numpy as np
import tensorflow as tf

# PSNR of identical images is +inf. Every per-image value is clipped to this
# cap, so means stay finite. 100 dB is far above any lossy result at 8 bits
# (one grey level of error everywhere gives 48.1 dB).
PSNR_CAP_DB = 100.0

# Gaussian window of Wang et al. (2004): 11 x 11, sigma 1.5.
SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5

# MS-SSIM exponents for five scales (Wang, Simoncelli and Bovik, 2003).
# `ms_ssim_weights(k)` takes the first k and renormalises them. All five need
# images of at least 176 x 176 with an 11-pixel window.
MS_SSIM_WEIGHTS_5 = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

_REDUCTIONS = ("mean", "none")


def to_unit_range(images, name="images"):
    """Check a batch of [-1, 1] images and return it as a float32 tensor in [0, 1].

    Args:
        images: array-like `(N, H, W, 3)` or `(H, W, 3)`.
        name: str. Argument name used in error messages.

    Returns:
        float32 `tf.Tensor` of shape `(N, H, W, 3)`.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"{name} must have shape (N, H, W, 3) or (H, W, 3). Received: {name}.shape={images.shape}"
        )
    if images.shape[0] == 0:
        raise ValueError(f"{name} must contain at least one image. Received: {name}.shape={images.shape}")
    if not np.all(np.isfinite(images)):
        raise ValueError(f"{name} contains NaN or infinite values. Received: {name} with non-finite pixels")
    # Clip so that tanh outputs a hair outside [-1, 1] after float16 casts still map into [0, 1].
    return tf.convert_to_tensor(np.clip((images + 1.0) * 0.5, 0.0, 1.0))


def _check_pair(a, b):
    a = to_unit_range(a, "a")
    b = to_unit_range(b, "b")
    if a.shape != b.shape:
        raise ValueError(
            f"a and b must have the same shape. Received: a.shape={tuple(a.shape)}, b.shape={tuple(b.shape)}"
        )
    return a, b


def _reduce(values, reduction):
    values = np.asarray(values, dtype=np.float64)
    if reduction == "mean":
        return float(np.mean(values))
    return values


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}. Received: reduction={reduction!r}")


def psnr(a, b, reduction="mean"):
    """Compute peak signal-to-noise ratio in dB between two image batches.

    PSNR is `10 * log10(1 / MSE)` on [0, 1] pixels, averaged over the three
    channels inside the MSE. It measures pixel error only: a blurred image and
    an image shifted by one pixel can score the same.

    Args:
        a, b: arrays `(N, H, W, 3)` in [-1, 1], same shape.
        reduction: str. `"mean"` returns the mean over images (float), `"none"`
            a `(N,)` array. Defaults to `"mean"`.

    Returns:
        float or `(N,)` float64 array, each value at most `PSNR_CAP_DB`
        (identical images give exactly `PSNR_CAP_DB`, not inf).
    """
    _check_reduction(reduction)
    a, b = _check_pair(a, b)
    values = tf.image.psnr(a, b, max_val=1.0).numpy()
    values = np.minimum(np.nan_to_num(values, posinf=PSNR_CAP_DB), PSNR_CAP_DB)
    return _reduce(values, reduction)


def _window_for(height, width, num_scales):
    """Pick an odd Gaussian window that fits the coarsest scale, and its sigma."""
    coarsest = min(height, width) // (2 ** (num_scales - 1))
    filter_size = min(SSIM_FILTER_SIZE, coarsest)
    if filter_size % 2 == 0:
        filter_size -= 1
    if filter_size < 3:
        raise ValueError(
            f"Images are too small for {num_scales}-scale SSIM: the coarsest scale is "
            f"{coarsest} pixels, and the window needs at least 3. Use fewer scales or larger "
            f"images. Received: image size={height}x{width}, num_scales={num_scales}"
        )
    # Keep the window-to-sigma ratio of the 11 / 1.5 reference window.
    filter_sigma = SSIM_FILTER_SIGMA * filter_size / SSIM_FILTER_SIZE
    return filter_size, filter_sigma


def ssim(a, b, reduction="mean"):
    """Compute structural similarity (Wang et al., 2004) between two image batches.

    SSIM compares local means, variances and covariance in a Gaussian window
    (11 x 11, sigma 1.5, shrunk for images under 11 pixels) and is 1 only for
    identical images. It can be negative for anti-correlated images and is
    about 0 for independent noise. Like PSNR it favours blur over small shifts.

    Args:
        a, b: arrays `(N, H, W, 3)` in [-1, 1], same shape.
        reduction: str. `"mean"` or `"none"`. Defaults to `"mean"`.

    Returns:
        float or `(N,)` float64 array in [-1, 1].
    """
    _check_reduction(reduction)
    a, b = _check_pair(a, b)
    filter_size, filter_sigma = _window_for(a.shape[1], a.shape[2], num_scales=1)
    values = tf.image.ssim(a, b, max_val=1.0, filter_size=filter_size, filter_sigma=filter_sigma)
    return _reduce(values.numpy(), reduction)


def ms_ssim_weights(num_scales):
    """Return the first `num_scales` MS-SSIM exponents, renormalised to sum to one."""
    if not 1 <= num_scales <= len(MS_SSIM_WEIGHTS_5):
        raise ValueError(
            f"num_scales must be between 1 and {len(MS_SSIM_WEIGHTS_5)}. Received: num_scales={num_scales}"
        )
    weights = np.asarray(MS_SSIM_WEIGHTS_5[:num_scales], dtype=np.float64)
    return tuple((weights / weights.sum()).tolist())


def ms_ssim(a, b, num_scales=3, reduction="mean"):
    """Compute multi-scale SSIM (Wang, Simoncelli and Bovik, 2003) between two batches.

    The images are halved `num_scales - 1` times. Contrast and structure are
    compared at every scale and luminance at the coarsest one, then combined as
    a weighted geometric mean (negative terms are clipped to 0 by TensorFlow, so
    the result is in [0, 1]). Three scales with an 11-pixel window work at
    128 x 128. At 32 x 32 the coarsest scale is 8 pixels, so the window shrinks
    to 7 and sigma to 0.95. Values at different image sizes are therefore not
    comparable.

    Args:
        a, b: arrays `(N, H, W, 3)` in [-1, 1], same shape.
        num_scales: int, 1 to 5. Defaults to 3.
        reduction: str. `"mean"` or `"none"`. Defaults to `"mean"`.

    Returns:
        float or `(N,)` float64 array in [0, 1].
    """
    _check_reduction(reduction)
    power_factors = ms_ssim_weights(num_scales)
    a, b = _check_pair(a, b)
    filter_size, filter_sigma = _window_for(a.shape[1], a.shape[2], num_scales)
    values = tf.image.ssim_multiscale(
        a,
        b,
        max_val=1.0,
        power_factors=power_factors,
        filter_size=filter_size,
        filter_sigma=filter_sigma,
    )
    return _reduce(values.numpy(), reduction)

