import keras
import numpy as np
import pytest

from keras_cartoon.models.layers import FusedBatchNormalization


def _pair(momentum=0.9):
    reference = keras.layers.BatchNormalization(momentum=momentum)
    fused = FusedBatchNormalization(momentum=momentum)
    reference.build((None, 8, 8, 4))
    fused.build((None, 8, 8, 4))
    rng = np.random.default_rng(0)
    weights = [rng.normal(1.0, 0.1, 4), rng.normal(0.0, 0.1, 4), rng.normal(0.0, 0.1, 4), rng.uniform(0.5, 2.0, 4)]
    weights = [w.astype("float32") for w in weights]
    reference.set_weights(weights)
    fused.set_weights(weights)
    return reference, fused


def _inputs():
    return np.random.default_rng(1).normal(2.0, 3.0, (2, 8, 8, 4)).astype("float32")


@pytest.mark.parametrize("training", [True, False])
def test_fused_matches_keras_outputs(training):
    reference, fused = _pair()
    x = _inputs()

    expected = reference(x, training=training).numpy()
    actual = fused(x, training=training).numpy()

    np.testing.assert_allclose(actual, expected, atol=1e-4)


def test_fused_updates_moving_statistics_like_keras():
    reference, fused = _pair()
    x = _inputs()

    reference(x, training=True)
    fused(x, training=True)

    np.testing.assert_allclose(fused.moving_mean.numpy(), reference.moving_mean.numpy(), rtol=1e-5)
    # Bessel's correction: the fused op adds (1 - momentum) * var / (N - 1) more, N = 2 * 8 * 8.
    bessel_term = 0.1 * x.var(axis=(0, 1, 2)) / (x[..., 0].size - 1)
    np.testing.assert_allclose(
        fused.moving_variance.numpy(), reference.moving_variance.numpy() + bessel_term, rtol=1e-5
    )


def test_fused_falls_back_for_dense_inputs():
    layer = FusedBatchNormalization()
    x = np.random.default_rng(2).normal(size=(4, 6)).astype("float32")

    outputs = layer(x, training=True).numpy()

    np.testing.assert_allclose(outputs.mean(axis=0), np.zeros(6), atol=1e-5)


def test_fused_config_roundtrip():
    layer = FusedBatchNormalization(momentum=0.8, epsilon=1e-3, name="bn")

    restored = FusedBatchNormalization.from_config(layer.get_config())

    assert restored.momentum == pytest.approx(0.8)
    assert restored.epsilon == pytest.approx(1e-3)
