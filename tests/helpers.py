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
