"""CartoonSet TFDS builder, built offline from a fake manual_dir."""

import os
import tarfile

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from keras_cartoon.data.cartoonset import ATTRIBUTE_NAMES
from keras_cartoon.data.cartoonset import CartoonSet
from keras_cartoon.data.cartoonset import cartoonset_images


@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch):
    def fail_download(*args, **kwargs):
        raise AssertionError("the CartoonSet test tried to download")

    monkeypatch.setattr(tfds.download.DownloadManager, "download", fail_download)
    monkeypatch.setattr(tfds.download.DownloadManager, "download_and_extract", fail_download)


def write_fake_set(folder, num_images=3):
    """Write RGBA faces on a transparent white background, all but the last with a CSV."""
    folder.mkdir(parents=True)
    for i in range(num_images):
        pixels = np.zeros((20, 20, 4), np.uint8)
        pixels[..., :3] = 255
        pixels[5:15, 5:15] = (200, 10, 10, 255)
        Image.fromarray(pixels).save(folder / f"cs{i}.png")
        if i < num_images - 1:
            (folder / f"cs{i}.csv").write_text(f'"eye_angle", 1, 3\n"hair", {i + 7}, 111\n')


def build(tmp_path, manual_dir):
    builder = CartoonSet(config="10k", data_dir=os.fspath(tmp_path / "tfds"))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir))
    )
    return builder


def test_builder_from_manual_folder(tmp_path):
    write_fake_set(tmp_path / "manual" / "cartoonset10k")

    builder = build(tmp_path, tmp_path / "manual")
    examples = {
        ex["file_name"].decode(): ex for ex in tfds.as_numpy(builder.as_dataset(split="train"))
    }

    assert sorted(examples) == ["cs0.png", "cs1.png", "cs2.png"]
    assert examples["cs1.png"]["image"].shape == (20, 20, 4)
    assert examples["cs1.png"]["attributes"]["hair"] == 8
    assert examples["cs1.png"]["attributes"]["eye_angle"] == 1
    assert examples["cs1.png"]["attributes"]["glasses"] == -1
    assert all(v == -1 for v in examples["cs2.png"]["attributes"].values())
    assert set(examples["cs0.png"]["attributes"]) == set(ATTRIBUTE_NAMES)


def test_builder_from_manual_archive(tmp_path):
    write_fake_set(tmp_path / "staging" / "cartoonset10k", num_images=2)
    (tmp_path / "manual").mkdir()
    with tarfile.open(tmp_path / "manual" / "cartoonset10k.tgz", "w:gz") as archive:
        archive.add(tmp_path / "staging" / "cartoonset10k", arcname="cartoonset10k")

    builder = build(tmp_path, tmp_path / "manual")

    assert builder.info.splits["train"].num_examples == 2


def test_builder_wrong_manual_dir(tmp_path):
    (tmp_path / "manual" / "something_else").mkdir(parents=True)

    with pytest.raises(ValueError, match="contains neither cartoonset10k/ nor cartoonset10k.tgz"):
        build(tmp_path, tmp_path / "manual")


def test_images_flattened_on_white(tmp_path):
    write_fake_set(tmp_path / "manual" / "cartoonset10k", num_images=1)
    builder = build(tmp_path, tmp_path / "manual")

    image = next(iter(cartoonset_images(builder.as_dataset(split="train"), 16))).numpy()

    assert image.shape == (16, 16, 3)
    np.testing.assert_allclose(image[0, 0], [1.0, 1.0, 1.0], atol=1e-5)
    assert image[8, 8, 2] < -0.8
