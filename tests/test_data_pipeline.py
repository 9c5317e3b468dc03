"""Image decoding, tf.data datasets, the seeded split and real-data folders."""

import logging
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from keras_cartoon.data import ImageDecodeError
from keras_cartoon.data import decode_image_file
from keras_cartoon.data import image_folder_datasets
from keras_cartoon.data import load_images
from keras_cartoon.data import paths_dataset
from keras_cartoon.data.images import SUPPORTED_FORMATS

RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE_FLOAT = np.ones(3, np.float32)


def to_float(rgb):
    return np.asarray(rgb, np.float32) / 127.5 - 1.0


def save_solid(path, color, size=(24, 24), image_format="PNG"):
    Image.new("RGB", size, color).save(path, format=image_format)
    return path


def save_left_right(path, size=32):
    """Save an image red on the left half, blue on the right half."""
    pixels = np.zeros((size, size, 3), np.uint8)
    pixels[:, : size // 2] = RED
    pixels[:, size // 2 :] = BLUE
    Image.fromarray(pixels).save(path)
    return path


def collect(dataset):
    return np.concatenate([batch.numpy() for batch in dataset])


# Decoding


def test_decode_rgba_matches_white_flattened_twin(cartoonset_dir, tmp_path):
    rgba_path = cartoonset_dir / "cs10188651804540743.png"
    with Image.open(rgba_path) as image:
        assert image.mode == "RGBA"
        rgba = np.asarray(image).astype(np.float64)
    alpha = rgba[..., 3:] / 255.0
    flat = np.round(rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    twin_path = tmp_path / "twin.png"
    Image.fromarray(flat).save(twin_path)

    for size in (500, 128):
        from_rgba = decode_image_file(rgba_path, size)
        from_twin = decode_image_file(twin_path, size)
        assert np.abs(from_rgba - from_twin).max() <= 2.0 / 255.0 + 1e-6


def test_decode_output_contract(tmp_path):
    path = save_solid(tmp_path / "a.png", (0, 128, 255), size=(40, 30))

    image = decode_image_file(path, 16)

    assert image.shape == (16, 16, 3)
    assert image.dtype == np.float32
    np.testing.assert_allclose(image[8, 8], to_float((0, 128, 255)), atol=1e-6)


@pytest.mark.parametrize("image_format", [f for f in SUPPORTED_FORMATS if f != "MPO"])
def test_decode_each_format(tmp_path, image_format):
    path = tmp_path / f"image.{image_format.lower()}"
    save_solid(path, (250, 250, 250), image_format=image_format)

    image = decode_image_file(path, 16)

    # JPEG and lossy WebP shift flat colours by a few levels.
    np.testing.assert_allclose(image, np.full((16, 16, 3), to_float(250)), atol=0.05)


def test_decode_png_named_jpg(tmp_path):
    path = save_solid(tmp_path / "actually_png.jpg", BLUE)

    image = decode_image_file(path, 16)

    np.testing.assert_allclose(image[0, 0], to_float(BLUE), atol=1e-6)


def test_decode_palette_transparency_on_white(tmp_path):
    image = Image.new("P", (16, 16), 0)
    image.putpalette([10, 20, 30] + [200, 0, 0] * 255)
    image.paste(1, (0, 0, 8, 16))
    image.save(tmp_path / "p.png", transparency=0)

    pixels = decode_image_file(tmp_path / "p.png", 16)

    np.testing.assert_allclose(pixels[8, 12], WHITE_FLOAT)
    np.testing.assert_allclose(pixels[8, 2], to_float((200, 0, 0)), atol=1e-6)


def test_decode_la_on_white(tmp_path):
    la = np.zeros((16, 16, 2), np.uint8)
    la[:, :8] = (0, 255)
    Image.fromarray(la).save(tmp_path / "la.png")

    pixels = decode_image_file(tmp_path / "la.png", 16)

    np.testing.assert_allclose(pixels[8, 2], -WHITE_FLOAT)
    np.testing.assert_allclose(pixels[8, 12], WHITE_FLOAT)


def test_decode_grayscale_and_cmyk(tmp_path):
    Image.new("L", (16, 16), 64).save(tmp_path / "gray.png")
    Image.new("CMYK", (16, 16), (0, 0, 0, 0)).save(tmp_path / "cmyk.jpg")

    gray = decode_image_file(tmp_path / "gray.png", 16)
    cmyk = decode_image_file(tmp_path / "cmyk.jpg", 16)

    np.testing.assert_allclose(gray, np.full((16, 16, 3), to_float(64)), atol=1e-6)
    np.testing.assert_allclose(cmyk, np.ones((16, 16, 3)), atol=0.03)


def test_decode_16bit_png(tmp_path):
    values = np.full((16, 16), 32896, np.uint16)  # 32896 / 257 = 128
    Image.fromarray(values).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as image:
        assert image.mode.startswith("I")

    pixels = decode_image_file(tmp_path / "deep.png", 16)

    np.testing.assert_allclose(pixels, np.full((16, 16, 3), to_float(128)), atol=1e-6)


def test_decode_dark_16bit_png(tmp_path):
    # Every value is below 256 and must still read as 16-bit: 200 / 257 rounds to 1.
    Image.fromarray(np.full((16, 16), 200, np.uint16)).save(tmp_path / "dark.png")

    pixels = decode_image_file(tmp_path / "dark.png", 16)

    np.testing.assert_allclose(pixels, np.full((16, 16, 3), to_float(1)), atol=1e-6)


def test_decode_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), RED), Image.new("RGB", (16, 16), BLUE)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50)

    pixels = decode_image_file(tmp_path / "anim.gif", 16)

    np.testing.assert_allclose(pixels[8, 8], to_float(RED), atol=0.02)


def test_decode_applies_exif_rotation(tmp_path):
    # Stored 32 wide x 16 tall, red left and blue right. Orientation 6 shows
    # it rotated 90 degrees clockwise: 16 wide x 32 tall, red on top.
    pixels = np.zeros((16, 32, 3), np.uint8)
    pixels[:, :16] = RED
    pixels[:, 16:] = BLUE
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=95)

    decoded = decode_image_file(tmp_path / "rotated.jpg", 16)

    np.testing.assert_allclose(decoded[1, 8], to_float(RED), atol=0.1)
    np.testing.assert_allclose(decoded[14, 8], to_float(BLUE), atol=0.1)


def test_decode_center_crop(tmp_path):
    pixels = np.full((40, 40, 3), 255, np.uint8)
    pixels[10:30, 10:30] = 0
    Image.fromarray(pixels).save(tmp_path / "framed.png")

    full = decode_image_file(tmp_path / "framed.png", 20)
    cropped = decode_image_file(tmp_path / "framed.png", 20, center_crop_fraction=0.5)

    np.testing.assert_allclose(cropped, -np.ones((20, 20, 3)), atol=1e-6)
    np.testing.assert_allclose(full[0, 0], WHITE_FLOAT)


def test_decode_non_square_not_stretched(tmp_path):
    pixels = np.zeros((20, 60, 3), np.uint8)
    pixels[:, 20:40] = 255
    Image.fromarray(pixels).save(tmp_path / "wide.png")

    decoded = decode_image_file(tmp_path / "wide.png", 20)

    np.testing.assert_allclose(decoded, np.ones((20, 20, 3)), atol=1e-6)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"hello", "not an image file"),
        (b"", "not an image file"),
        (None, "file not found"),
    ],
)
def test_decode_error_names_file(tmp_path, content, reason):
    path = tmp_path / "bad.png"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(ImageDecodeError, match=reason) as info:
        decode_image_file(path, 16)

    assert info.value.path == path
    assert f"Received: path={str(path)!r}" in str(info.value)


def test_decode_truncated_raises(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])

    with pytest.raises(ImageDecodeError, match="corrupt or truncated"):
        decode_image_file(tmp_path / "cut.png", 16)


def test_decode_max_pixels(tmp_path):
    save_solid(tmp_path / "a.png", RED, size=(64, 64))

    with pytest.raises(ImageDecodeError, match="too many pixels"):
        decode_image_file(tmp_path / "a.png", 16, max_pixels=100)


def test_decode_invalid_crop_fraction(tmp_path):
    path = save_solid(tmp_path / "a.png", RED)

    with pytest.raises(ValueError, match="Received: center_crop_fraction=1.5"):
        decode_image_file(path, 16, center_crop_fraction=1.5)


def test_load_images_stacks(tmp_path):
    paths = [save_solid(tmp_path / f"{i}.png", (i * 50, 0, 0)) for i in range(3)]

    images = load_images(paths, 16)

    assert images.shape == (3, 16, 16, 3)
    np.testing.assert_allclose(images[:, 0, 0, 0], to_float([0, 50, 100]), atol=1e-6)


# Datasets


@pytest.fixture
def color_folder(tmp_path):
    """Twelve solid-colour PNGs with distinct red values 0, 20, ..., 220."""
    folder = tmp_path / "colors"
    folder.mkdir()
    for i in range(12):
        save_solid(folder / f"img_{i:02d}.png", (i * 20, 100, 100))
    return folder


def red_values(images):
    return sorted(int(round((v + 1.0) * 127.5)) for v in images[:, 0, 0, 0])


def test_dataset_batches_shape_and_range(color_folder):
    split = image_folder_datasets(
        color_folder, image_size=16, batch_size=4, validation_fraction=0.0
    )

    batches = [batch.numpy() for batch in split.train]

    assert split.validation is None
    assert [b.shape for b in batches] == [(4, 16, 16, 3)] * 3
    assert all(b.dtype == np.float32 for b in batches)
    assert min(b.min() for b in batches) >= -1.0
    assert max(b.max() for b in batches) <= 1.0
    assert red_values(np.concatenate(batches)) == [i * 20 for i in range(12)]


def test_dataset_split_covers_all_files(color_folder):
    split = image_folder_datasets(
        color_folder, image_size=16, batch_size=2, validation_fraction=0.3
    )

    train = collect(split.train)
    validation = collect(split.validation)

    assert len(train) == len(split.train_paths)
    assert len(validation) == len(split.validation_paths) >= 1
    assert sorted(split.train_paths + split.validation_paths) == sorted(
        str(p) for p in color_folder.iterdir()
    )
    assert red_values(np.concatenate([train, validation])) == [i * 20 for i in range(12)]


def test_split_deterministic_by_seed(color_folder):
    first = image_folder_datasets(
        color_folder, image_size=16, batch_size=2, validation_fraction=0.3, seed=1
    )
    again = image_folder_datasets(
        color_folder, image_size=16, batch_size=2, validation_fraction=0.3, seed=1
    )
    other = image_folder_datasets(
        color_folder, image_size=16, batch_size=2, validation_fraction=0.3, seed=2
    )

    assert first.validation_paths == again.validation_paths
    assert first.validation_paths != other.validation_paths


def test_split_stable_when_files_added(color_folder):
    before = image_folder_datasets(
        color_folder, image_size=16, batch_size=2, validation_fraction=0.3
    )
    for i in range(12, 40):
        save_solid(color_folder / f"img_{i:02d}.png", (i, 0, 0))

    after = image_folder_datasets(
        color_folder, image_size=16, batch_size=2, validation_fraction=0.3
    )

    assert set(before.validation_paths) <= set(after.validation_paths)
    assert set(before.train_paths) <= set(after.train_paths)


def test_dataset_drops_bad_files(color_folder):
    (color_folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    (color_folder / "text.png").write_text("not an image")
    (color_folder / "empty.jpg").write_bytes(b"")

    split = image_folder_datasets(
        color_folder, image_size=16, batch_size=3, validation_fraction=0.0
    )

    assert len(split.skipped) == 3
    assert red_values(collect(split.train)) == [i * 20 for i in range(12)]


def test_dataset_drops_file_changed_after_scan(color_folder, caplog):
    split = image_folder_datasets(
        color_folder, image_size=16, batch_size=2, validation_fraction=0.0, cache=False
    )
    (color_folder / "img_03.png").write_text("overwritten after the scan")
    os.remove(color_folder / "img_05.png")

    with caplog.at_level(logging.WARNING):
        images = collect(split.train)

    assert red_values(images) == [i * 20 for i in range(12) if i not in (3, 5)]
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "img_03.png" in messages
    assert "img_05.png" in messages


def test_train_reshuffles_each_epoch(color_folder):
    split = image_folder_datasets(
        color_folder, image_size=16, batch_size=12, validation_fraction=0.0, seed=3
    )

    first = collect(split.train)[:, 0, 0, 0]
    second = collect(split.train)[:, 0, 0, 0]

    assert sorted(first) == sorted(second)
    assert not np.array_equal(first, second)


def test_flip_only_in_train(tmp_path):
    for i in range(16):
        save_left_right(tmp_path / f"lr_{i:02d}.png")

    split = image_folder_datasets(
        tmp_path, image_size=16, batch_size=2, validation_fraction=0.25, flip=True, seed=0
    )
    train = collect(split.train)
    validation = collect(split.validation)

    # A flipped image has blue on the left, where the red channel is -1.
    train_flipped = train[:, 8, 0, 0] < 0
    assert 0 < train_flipped.sum() < len(train)
    assert not (validation[:, 8, 0, 0] < 0).any()


def test_no_flip_by_default(tmp_path):
    for i in range(8):
        save_left_right(tmp_path / f"lr_{i}.png")

    split = image_folder_datasets(tmp_path, image_size=16, batch_size=2, validation_fraction=0.0)

    assert (collect(split.train)[:, 8, 0, 0] > 0).all()


def test_cache_to_file(color_folder, tmp_path):
    cache = tmp_path / "cache" / "colors"
    split = image_folder_datasets(
        color_folder, image_size=16, batch_size=4, validation_fraction=0.2, cache=cache
    )

    first = red_values(collect(split.train))
    shutil.rmtree(color_folder)
    second = red_values(collect(split.train))

    assert first == second
    assert any(name.startswith("colors-train") for name in os.listdir(tmp_path / "cache"))


def test_paths_dataset_unbatched(color_folder):
    paths = sorted(str(p) for p in color_folder.iterdir())[:3]

    images = np.stack([x.numpy() for x in paths_dataset(paths, 16)])

    assert images.shape == (3, 16, 16, 3)
    assert red_values(images) == [0, 20, 40]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image_size": 30}, "Received: image_size=30"),
        ({"image_size": 0}, "positive multiple of 16"),
        ({"batch_size": 0}, "Received: batch_size=0"),
        ({"validation_fraction": 1.0}, "Received: validation_fraction=1.0"),
        ({"center_crop_fraction": 0.0}, "Received: center_crop_fraction=0.0"),
        ({"batch_size": 64}, "larger than the 12 training images"),
    ],
)
def test_dataset_invalid_arguments(color_folder, kwargs, message):
    arguments = {"image_size": 16, "batch_size": 2, "validation_fraction": 0.0, **kwargs}

    with pytest.raises(ValueError, match=message):
        image_folder_datasets(color_folder, **arguments)


def test_batch_error_names_both_values(color_folder):
    with pytest.raises(ValueError) as info:
        image_folder_datasets(color_folder, image_size=16, batch_size=64, validation_fraction=0.0)

    assert "batch_size=64" in str(info.value)
    assert "12 training images" in str(info.value)


def test_non_utf8_file_through_dataset(tmp_path):
    save_solid(os.path.join(os.fsencode(tmp_path), b"caf\xe9.png"), (40, 0, 0))
    save_solid(tmp_path / "plain.png", (80, 0, 0))

    split = image_folder_datasets(tmp_path, image_size=16, batch_size=1, validation_fraction=0.0)

    assert red_values(collect(split.train)) == [40, 80]


# Real data folders


@pytest.mark.large
def test_real_cartoonset_batches(cartoonset_dir):
    split = image_folder_datasets(
        cartoonset_dir, image_size=32, batch_size=16, validation_fraction=0.1
    )

    # Validation is not shuffled, so its first batch decodes only 16 files.
    batch = next(iter(split.validation)).numpy()

    assert len(split.train_paths) + len(split.validation_paths) == 630
    assert 30 <= len(split.validation_paths) <= 100
    assert batch.shape == (16, 32, 32, 3)
    # Cartoon Set backgrounds are white once alpha is flattened.
    np.testing.assert_allclose(batch[:, 0, 0], 1.0, atol=0.02)


@pytest.mark.large
def test_real_anime_faces_load(anime_faces_dir):
    paths = sorted(str(p) for p in anime_faces_dir.iterdir())[:8]

    images = load_images(paths, 64)

    assert images.shape == (8, 64, 64, 3)
    assert images.std() > 0.1


@pytest.mark.large
def test_real_png_named_jpg_load(selfie2anime_dir):
    paths = sorted(str(p) for p in (selfie2anime_dir / "testB").iterdir())[:4]

    images = load_images(paths, 32)

    assert images.shape == (4, 32, 32, 3)
    assert -1.0 <= images.min() < images.max() <= 1.0
