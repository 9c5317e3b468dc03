"""No-reference sharpness: Laplacian variance and gradient energy.

A VAE trained with a pixel loss blurs its outputs, and PSNR or SSIM against the
input cannot show it. These measures need no reference image. Compare samples
with real images through `sharpness_ratio`: about 1 means as much fine detail as
the data, well below 1 means blur. Both measures also rise with noise and JPEG
blocking, so a ratio above 1 is not better, it means high-frequency artefacts.
"""

import numpy as np

from keras_cartoon.metrics.image_quality import to_unit_range

# ITU-R BT.601 luma weights.
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float64)

METHODS = ("laplacian", "gradient")


def _luma(images, name):
    """Return `(N, H, W)` float64 luma in [0, 1] from [-1, 1] RGB images."""
    images = to_unit_range(images, name).numpy().astype(np.float64)
    if images.shape[1] < 3 or images.shape[2] < 3:
        raise ValueError(
            f"{name} must be at least 3 x 3 pixels for a 3 x 3 Laplacian. Received: {name}.shape={images.shape}"
        )
    return images @ _LUMA_WEIGHTS


def laplacian_variance(images):
    """Compute the variance of the 4-neighbour Laplacian of each image's luma.

    The Laplacian `[[0, 1, 0], [1, -4, 1], [0, 1, 0]]` is applied to the interior
    pixels (no padding) of luma in [0, 1]. A constant image scores 0. The value
    depends on image size and content, so compare it only between sets of the
    same size and domain.

    Args:
        images: array `(N, H, W, 3)` in [-1, 1].

    Returns:
        `(N,)` float64 array.
    """
    luma = _luma(images, "images")
    laplacian = (
        luma[:, :-2, 1:-1]
        + luma[:, 2:, 1:-1]
        + luma[:, 1:-1, :-2]
        + luma[:, 1:-1, 2:]
        - 4.0 * luma[:, 1:-1, 1:-1]
    )
    return laplacian.reshape(len(laplacian), -1).var(axis=1)


def gradient_energy(images):
    """Compute the mean squared forward difference (horizontal plus vertical) of each image's luma.

    Smoother than the Laplacian and less sensitive to single-pixel noise. A
    constant image scores 0.

    Args:
        images: array `(N, H, W, 3)` in [-1, 1].

    Returns:
        `(N,)` float64 array.
    """
    luma = _luma(images, "images")
    dy = luma[:, 1:, :-1] - luma[:, :-1, :-1]
    dx = luma[:, :-1, 1:] - luma[:, :-1, :-1]
    return (dx**2 + dy**2).reshape(len(luma), -1).mean(axis=1)


def mean_sharpness(images, method="laplacian"):
    """Return the mean of `laplacian_variance` or `gradient_energy` over images."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}. Received: method={method!r}")
    per_image = laplacian_variance(images) if method == "laplacian" else gradient_energy(images)
    return float(per_image.mean())


def sharpness_ratio(samples, real, method="laplacian"):
    """Compute the mean sharpness of `samples` divided by that of `real`.

    Args:
        samples: array `(N, H, W, 3)` in [-1, 1], e.g. decoded samples or
            reconstructions.
        real: array `(M, H', W', 3)` in [-1, 1] at the same resolution as
            `samples` (the measures are not scale invariant).
        method: str. `"laplacian"` or `"gradient"`. Defaults to `"laplacian"`.

    Returns:
        float. 1.0 for a set compared with itself, below 1 for blurrier samples.
    """
    samples_shape = np.shape(samples)[-3:-1]
    real_shape = np.shape(real)[-3:-1]
    if samples_shape != real_shape:
        raise ValueError(
            "samples and real must have the same height and width, because sharpness depends on "
            f"resolution. Received: samples size={samples_shape}, real size={real_shape}"
        )
    real_sharpness = mean_sharpness(real, method)
    if real_sharpness <= 0.0:
        raise ValueError(
            "The real images have zero sharpness (they are constant), so the ratio is undefined. "
            f"Received: mean {method} sharpness of real={real_sharpness}"
        )
    return mean_sharpness(samples, method) / real_sharpness
