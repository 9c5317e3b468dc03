"""Number of statistically different bins (NDB) and bin JSD.

Richardson and Weiss, "On GANs and GMMs" (NeurIPS 2018): cluster the real
images into K bins with k-means, assign real and generated images to the
nearest centroid, and test per bin whether the two proportions differ. A model
that drops modes or over-produces some leaves many bins different, while a model that
matches the data leaves about `alpha * K` bins different by chance.
"""

import dataclasses

import numpy as np
import scipy.cluster.vq
import scipy.stats
import tensorflow as tf

from keras_cartoon.metrics.image_quality import to_unit_range


@dataclasses.dataclass
class NDBResult:
    """Outcome of one NDB test.

    Attributes:
        num_different_bins: int. Bins whose proportions differ at level `alpha`.
        num_bins: int. K.
        ndb_ratio: float. `num_different_bins / num_bins`, in [0, 1].
        jsd: float. Jensen-Shannon divergence between the two bin histograms,
            base 2, in [0, 1].
        real_proportions: `(K,)` fraction of real images per bin.
        sample_proportions: `(K,)` fraction of samples per bin.
        p_values: `(K,)` two-sided p-values of the per-bin z-tests.
    """

    num_different_bins: int
    num_bins: int
    ndb_ratio: float
    jsd: float
    real_proportions: np.ndarray
    sample_proportions: np.ndarray
    p_values: np.ndarray


def image_features(images, feature_size=16):
    """Downsample [-1, 1] images with area averaging and flatten them to `(N, s * s * 3)` float64.

    Comparing pixels at 16 x 16 keeps layout and colours (hair, skin, glasses
    on a face) and drops detail that k-means cannot use in a few hundred images.
    """
    images = to_unit_range(images)
    resized = tf.image.resize(images, (feature_size, feature_size), method="area")
    return resized.numpy().reshape(len(resized), -1).astype(np.float64)


def jensen_shannon_divergence(p, q):
    """Return the base-2 Jensen-Shannon divergence of two histograms (0 when equal, 1 when disjoint)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / p.sum()
    q = q / q.sum()
    mixture = 0.5 * (p + q)
    return float(0.5 * scipy.stats.entropy(p, mixture, base=2) + 0.5 * scipy.stats.entropy(q, mixture, base=2))


def two_proportion_p_values(count_a, total_a, count_b, total_b):
    """Return two-sided p-values of the pooled two-proportion z-test, one per bin.

    A bin empty in both sets has no variance and gets p-value 1.
    """
    count_a = np.asarray(count_a, dtype=np.float64)
    count_b = np.asarray(count_b, dtype=np.float64)
    pooled = (count_a + count_b) / (total_a + total_b)
    standard_error = np.sqrt(pooled * (1.0 - pooled) * (1.0 / total_a + 1.0 / total_b))
    difference = count_a / total_a - count_b / total_b
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(standard_error > 0, difference / standard_error, 0.0)
    return 2.0 * scipy.stats.norm.sf(np.abs(z))


class NDB:
    """NDB test fitted once on real images, then applied to any number of sample sets.

    Args:
        real_images: array `(M, H, W, 3)` in [-1, 1]. Needs at least
            `5 * num_bins` images so that every bin expects several members.
        num_bins: int. K, the number of k-means clusters. Defaults to 20.
        feature_size: int. Images are area-downsampled to this square size
            before clustering. Defaults to 16.
        alpha: float. Significance level of each per-bin test. Defaults to 0.05.
        seed: int. Seed of the k-means++ initialisation. Defaults to 0.

    Limits: bins are defined in pixel space, so NDB compares layout and colour,
    not identity or fine detail. Its value depends on K, the feature size and
    the number of samples (more samples give the test more power), so compare
    NDB only between runs with the same settings and sample counts. The
    original paper uses K = 100 with tens of thousands of images, while 20 bins fit
    the few hundred images of a small data set.

    Example:
        test = NDB(real_images, num_bins=20)
        result = test.evaluate(vae.sample(500, seed=0))
        result.ndb_ratio, result.jsd
    """

    def __init__(self, real_images, num_bins=20, feature_size=16, alpha=0.05, seed=0):
        if num_bins < 2:
            raise ValueError(f"num_bins must be at least 2. Received: num_bins={num_bins}")
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1). Received: alpha={alpha}")
        features = image_features(real_images, feature_size)
        if len(features) < 5 * num_bins:
            raise ValueError(
                f"NDB with {num_bins} bins needs at least {5 * num_bins} real images (5 per bin). "
                f"Use fewer bins or more images. Received: {len(features)} real images"
            )
        self.num_bins = num_bins
        self.feature_size = feature_size
        self.alpha = alpha
        self.seed = seed

        self.centroids, real_labels = scipy.cluster.vq.kmeans2(
            features, num_bins, minit="++", seed=np.random.default_rng(seed), missing="warn"
        )
        self.real_counts = np.bincount(real_labels, minlength=num_bins)
        self.num_real = len(features)

    def assign(self, images):
        """Return the bin index of each image, shape `(N,)`."""
        labels, _ = scipy.cluster.vq.vq(image_features(images, self.feature_size), self.centroids)
        return labels

    def evaluate(self, samples):
        """Test `samples` against the fitted real bins and return an `NDBResult`."""
        sample_counts = np.bincount(self.assign(samples), minlength=self.num_bins)
        num_samples = int(sample_counts.sum())
        p_values = two_proportion_p_values(self.real_counts, self.num_real, sample_counts, num_samples)
        num_different = int(np.sum(p_values < self.alpha))
        return NDBResult(
            num_different_bins=num_different,
            num_bins=self.num_bins,
            ndb_ratio=num_different / self.num_bins,
            jsd=jensen_shannon_divergence(self.real_counts, sample_counts),
            real_proportions=self.real_counts / self.num_real,
            sample_proportions=sample_counts / num_samples,
            p_values=p_values,
        )


def ndb_score(samples, real_images, num_bins=20, feature_size=16, alpha=0.05, seed=0):
    """Fit `NDB` on `real_images` and evaluate `samples` in one call (see `NDB` for the limits)."""
    return NDB(real_images, num_bins, feature_size, alpha, seed).evaluate(samples)
