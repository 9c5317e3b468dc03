"""MS-SSIM sample diversity: a mode-collapse monitor for generators that need no downloaded weights.

The diversity of a set of images is the mean over all pairs of
`1 - MS-SSIM(x_i, x_j)`: 0 when every image is the same, larger when the
images differ in structure. The diversity ratio divides the diversity of a
generator's outputs by that of real images of the target domain (Odena et
al., "Conditional Image Synthesis with Auxiliary Classifier GANs", 2017, used
MS-SSIM this way). A ratio near 1 means the outputs differ from each other
about as much as real images do. A ratio near 0 means the generator maps
different inputs to nearly the same image, the signature of mode collapse.

Limits: MS-SSIM compares luminance, contrast and structure at a few scales,
so a ratio near 1 shows nothing about realism or about whether the outputs
match the target domain (an identity mapping scores about 1 when both domains
vary alike). It is noisy for small sets (16 images give 120 pairs). A ratio
above 1 is possible: noisy or artefact-ridden outputs vary more than real
faces.
"""

import numpy as np

from keras_cartoon.metrics.image_quality import ms_ssim

# Three scales fit 128x128 images with the standard 11-pixel window; smaller
# images get a smaller window (see `image_quality.ms_ssim`).
NUM_SCALES = 3


def pairwise_ms_ssim(images, max_pairs=None, seed=0):
    """Return MS-SSIM for every pair `i < j` of `images` (`(N, H, W, 3)` in [-1, 1]).

    With `max_pairs`, a seeded random subset of the pairs is scored.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or len(images) < 2:
        raise ValueError(f"Need a batch of at least 2 images (N, H, W, 3). Received: shape={images.shape}")
    first, second = np.triu_indices(len(images), k=1)
    if max_pairs is not None and len(first) > max_pairs:
        chosen = np.random.default_rng(seed).choice(len(first), max_pairs, replace=False)
        first, second = first[chosen], second[chosen]
    return ms_ssim(images[first], images[second], num_scales=NUM_SCALES, reduction="none")


def diversity(images, max_pairs=None, seed=0):
    """Return the mean pairwise `1 - MS-SSIM` of `images`: 0 for identical images."""
    return float(np.mean(1.0 - pairwise_ms_ssim(images, max_pairs, seed)))


def diversity_ratio(generated, real, max_pairs=None, seed=0):
    """Return `diversity(generated) / diversity(real)`: near 0 means mode collapse.

    Args:
        generated: `(N, H, W, 3)` generator outputs in [-1, 1].
        real: `(M, H, W, 3)` real images of the generator's target domain, same size.
        max_pairs: int or None. Score at most this many random pairs per set.
        seed: int. Seed of the pair subset.

    Raises:
        ValueError: the real images are all identical (zero diversity).
    """
    real_diversity = diversity(real, max_pairs, seed)
    if real_diversity <= 0:
        raise ValueError(
            "The real images have zero diversity (all identical), so the ratio is undefined. "
            f"Received: real.shape={np.shape(real)}"
        )
    return diversity(generated, max_pairs, seed) / real_diversity
