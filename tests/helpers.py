"""Test helpers shared by model tests: config and `.keras` round trips."""

import numpy as np
import keras


def run_config_roundtrip(model_cls, init_kwargs):
    """Check that `get_config` lists every constructor argument it was given."""
    model = model_cls(**init_kwargs)
    config = model.get_config()
    for name, value in init_kwargs.items():
        assert name in config, f"get_config() is missing argument {name!r}"
    restored = model_cls.from_config(config)
    assert restored.get_config() == config
    return restored


def run_saving_roundtrip(model, inputs, tmp_path, call=None, atol=1e-6):
    """Save `model` to `.keras`, reload it, and compare outputs on `inputs`."""
    call = call or (lambda m, x: m(x, training=False))
    expected = keras.ops.convert_to_numpy(call(model, inputs))
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    actual = keras.ops.convert_to_numpy(call(restored, inputs))
    np.testing.assert_allclose(actual, expected, atol=atol)
    return restored


def structured_images(num_images, size, seed=0):
    """Make `(N, size, size, 3)` images in [-1, 1]: smooth random blobs on a gradient, structured at several scales."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size] / size
    images = np.zeros((num_images, size, size, 3), dtype=np.float32)
    for i in range(num_images):
        for _ in range(6):
            center = rng.uniform(0.1, 0.9, size=2)
            radius = rng.uniform(0.05, 0.3)
            blob = np.exp(-((rows - center[0]) ** 2 + (cols - center[1]) ** 2) / (2 * radius**2))
            images[i] += blob[..., None] * rng.uniform(-1, 1, size=3)
        images[i] += 0.5 * (rows - 0.5)[..., None]
    return np.clip(images, -1, 1)
