"""Offline demo data: deterministic, cached, atomic, two distinct domains."""

import os

import numpy as np
import pytest
from PIL import Image

from keras_cartoon.data import demo
from keras_cartoon.data import demo_data_dir
from keras_cartoon.data import image_folder_datasets


def read_pixels(folder):
    return [np.asarray(Image.open(path)) for path in sorted(folder.iterdir())]


def test_demo_same_seed_same_images(tmp_path):
    first = demo_data_dir("cartoon", num_images=3, seed=5, cache_dir=tmp_path / "one")
    second = demo_data_dir("cartoon", num_images=3, seed=5, cache_dir=tmp_path / "two")

    assert [p.name for p in sorted(first.iterdir())] == [p.name for p in sorted(second.iterdir())]
    for a, b in zip(read_pixels(first), read_pixels(second)):
        np.testing.assert_array_equal(a, b)


def test_demo_other_seed_other_images(tmp_path):
    first = read_pixels(demo_data_dir("cartoon", num_images=2, seed=0, cache_dir=tmp_path))
    second = read_pixels(demo_data_dir("cartoon", num_images=2, seed=1, cache_dir=tmp_path))

    assert not np.array_equal(first[0], second[0])


def test_demo_images_are_square_rgb(tmp_path):
    folder = demo_data_dir("anime", num_images=2, cache_dir=tmp_path, image_size=64)

    for path in folder.iterdir():
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.mode == "RGB"
            assert image.size == (64, 64)


def test_demo_domains_differ_in_background(tmp_path):
    cartoon = np.stack(read_pixels(demo_data_dir("cartoon", num_images=4, cache_dir=tmp_path)))
    anime = np.stack(read_pixels(demo_data_dir("anime", num_images=4, cache_dir=tmp_path)))

    # Cartoon corners are white (like Cartoon Set); anime corners are dark navy.
    assert (cartoon[:, 0, 0] == 255).all()
    assert (anime[:, 0, 0] < 80).all()


def test_demo_reuses_cache(tmp_path, monkeypatch):
    folder = demo_data_dir("cartoon", num_images=2, cache_dir=tmp_path)

    def fail(*args, **kwargs):
        raise AssertionError("rendered again although the set is cached")

    monkeypatch.setattr(demo, "_render_set", fail)

    assert demo_data_dir("cartoon", num_images=2, cache_dir=tmp_path) == folder


def test_demo_env_cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_CARTOON_CACHE", str(tmp_path))

    folder = demo_data_dir("cartoon", num_images=1)

    assert folder.parent == tmp_path / "demo"
    assert folder.name == "cartoon-0-1-128px"


def test_demo_interrupted_leaves_nothing(tmp_path, monkeypatch):
    real_render = demo.render_avatar_png
    calls = []

    def render_then_die(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_render(*args)

    monkeypatch.setattr(demo, "render_avatar_png", render_then_die)

    with pytest.raises(KeyboardInterrupt):
        demo_data_dir("cartoon", num_images=3, cache_dir=tmp_path)

    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"domain": "manga"}, "Received: domain='manga'"),
        ({"num_images": 0}, "Received: num_images=0"),
        ({"image_size": 8}, "Received: image_size=8"),
    ],
)
def test_demo_invalid_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        demo_data_dir(cache_dir=tmp_path, **kwargs)


def test_demo_folder_feeds_pipeline(tmp_path):
    folder = demo_data_dir("anime", num_images=4, cache_dir=tmp_path, image_size=32)

    split = image_folder_datasets(folder, image_size=32, batch_size=2, validation_fraction=0.0)
    batch = next(iter(split.train)).numpy()

    assert batch.shape == (2, 32, 32, 3)
    assert batch.std() > 0.1
