"""Shared pytest setup: no network, CPU only, quiet TensorFlow, real-data paths."""

import os

# Set before TensorFlow or TFDS import: TF probes the GCE metadata server when a
# GCS path is touched, and TFDS looks up its GCS bucket for dataset info.
os.environ.setdefault("NO_GCE_CHECK", "true")
os.environ.setdefault("TFDS_DISABLE_GCS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")

import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
CARTOONSET_DIR = SHARED_DATA / "cartoonset"
ANIME_FACES_DIR = SHARED_DATA / "anime_faces"
SELFIE2ANIME_DIR = SHARED_DATA / "selfie2anime_anime"


def _disable_tfds_gcs():
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        return
    tfds.core.utils.gcs_utils._is_gcs_disabled = True


_disable_tfds_gcs()


@pytest.fixture(autouse=True)
def _seed_everything():
    import keras

    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session()


def require_dir(path):
    """Skip the calling test, saying why, when a real-data folder is absent."""
    if not path.is_dir() or not any(path.iterdir()):
        pytest.skip(
            f"Real data not found at {path}. This test needs the shared data "
            "folder beside the repository (CI has it; a user clone may not)."
        )
    return path


@pytest.fixture
def cartoonset_dir():
    return require_dir(CARTOONSET_DIR)


@pytest.fixture
def anime_faces_dir():
    return require_dir(ANIME_FACES_DIR)


@pytest.fixture
def selfie2anime_dir():
    return require_dir(SELFIE2ANIME_DIR)
