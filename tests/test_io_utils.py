import errno
import zipfile
from unittest import mock

import keras
import numpy as np
import pytest

from keras_cartoon import io_utils


def _tiny_model(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2)(inputs)
    return keras.Model(inputs, outputs)


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "figure.png"
    target.write_bytes(b"old")

    with pytest.raises(RuntimeError):
        with io_utils.atomic_write(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed mid-write")

    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png"]


def test_atomic_write_replaces_on_success(tmp_path):
    target = tmp_path / "sub" / "metrics.json"
    io_utils.write_text_atomic(target, "{}")
    assert target.read_text() == "{}"


def test_save_model_disk_full_keeps_previous_model(tmp_path):
    path = tmp_path / "vae.keras"
    first = _tiny_model(0)
    io_utils.save_model_atomic(first, path)
    x = np.ones((1, 4), np.float32)
    expected = first(x).numpy()

    second = _tiny_model(1)
    no_space = OSError(errno.ENOSPC, "No space left on device")
    with mock.patch.object(zipfile.ZipFile, "writestr", side_effect=no_space):
        with pytest.raises(OSError, match="No space left on device.*previous file"):
            io_utils.save_model_atomic(second, path)

    restored = io_utils.load_model_safely(path)
    np.testing.assert_allclose(restored(x).numpy(), expected, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vae.keras"]


def test_load_truncated_keras_file_names_it(tmp_path):
    path = tmp_path / "model.keras"
    io_utils.save_model_atomic(_tiny_model(0), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(ValueError, match="model.keras is corrupt or truncated"):
        io_utils.load_model_safely(path)


def test_load_rejects_lambda_layer_in_safe_mode(tmp_path):
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)

    with pytest.raises(ValueError, match="serialized Python code"):
        io_utils.load_model_safely(path)
    restored = io_utils.load_model_safely(path, safe_mode=False)
    assert restored(np.ones((1, 4), np.float32)).numpy()[0, 0] == pytest.approx(2.0)


def test_load_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        io_utils.load_model_safely(tmp_path / "absent.keras")
    other = tmp_path / "weights.h5"
    other.write_bytes(b"x")
    with pytest.raises(ValueError, match=r"\.keras"):
        io_utils.load_model_safely(other)


def test_atomic_write_uses_umask_mode(tmp_path):
    target = tmp_path / "history.csv"
    io_utils.write_text_atomic(target, "epoch\n")
    import os

    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
