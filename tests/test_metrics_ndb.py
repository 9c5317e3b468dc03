"""NDB and JSD: a matching sample set versus a collapsed one."""

import numpy as np
import pytest

from keras_cartoon.metrics.ndb import NDB, jensen_shannon_divergence, ndb_score, two_proportion_p_values
from tests.helpers import structured_images

NUM_MODES = 8


def mixture_images(num_images, seed):
    """Draw images from a fixed mixture: one of 8 prototypes plus pixel noise."""
    prototypes = structured_images(NUM_MODES, 32, seed=100)
    rng = np.random.default_rng(seed)
    modes = rng.integers(0, NUM_MODES, size=num_images)
    noise = rng.normal(0, 0.1, size=(num_images, 32, 32, 3))
    return np.clip(prototypes[modes] + noise, -1, 1).astype(np.float32)


@pytest.fixture(scope="module")
def ndb_test():
    return NDB(mixture_images(300, seed=0), num_bins=10, seed=0)


def test_ndb_of_same_distribution_is_small(ndb_test):
    result = ndb_test.evaluate(mixture_images(300, seed=1))
    assert result.num_bins == 10
    assert result.ndb_ratio <= 0.2
    assert result.jsd < 0.02


def test_ndb_of_collapsed_samples_is_large(ndb_test):
    collapsed = np.repeat(mixture_images(1, seed=2), 300, axis=0)
    result = ndb_test.evaluate(collapsed)
    assert result.ndb_ratio >= 0.8
    assert result.jsd > 0.5
    assert np.count_nonzero(result.sample_proportions) == 1


def test_ndb_proportions_sum_to_one(ndb_test):
    result = ndb_test.evaluate(mixture_images(50, seed=3))
    assert result.real_proportions.sum() == pytest.approx(1.0)
    assert result.sample_proportions.sum() == pytest.approx(1.0)


def test_ndb_is_deterministic_for_a_seed():
    real, samples = mixture_images(100, seed=4), mixture_images(100, seed=5)
    first = ndb_score(samples, real, num_bins=5, seed=3)
    second = ndb_score(samples, real, num_bins=5, seed=3)
    np.testing.assert_array_equal(first.p_values, second.p_values)


def test_ndb_rejects_too_few_real_images():
    with pytest.raises(ValueError, match="at least 100 real images"):
        NDB(mixture_images(40, seed=0), num_bins=20)


def test_jsd_of_equal_and_disjoint_histograms():
    assert jensen_shannon_divergence([1, 2, 3], [2, 4, 6]) == pytest.approx(0.0, abs=1e-12)
    assert jensen_shannon_divergence([1, 0], [0, 1]) == pytest.approx(1.0)


def test_two_proportion_test_matches_hand_value():
    # 30/100 vs 50/100: pooled 0.4, SE sqrt(0.4 * 0.6 * 0.02) = 0.069282, z = -2.8868.
    p_value = two_proportion_p_values([30], 100, [50], 100)[0]
    assert p_value == pytest.approx(0.003892, abs=1e-5)


def test_two_proportion_test_of_empty_bin_is_one():
    assert two_proportion_p_values([0], 100, [0], 50)[0] == 1.0
