"""Folder scan: every kind of bad file is classified, skipped or rejected."""

import io
import logging
import os

import numpy as np
import pytest
from PIL import Image

from keras_cartoon.data import scan
from keras_cartoon.data import scan_image_folder


def save_png(path, size=(32, 32), color=(200, 40, 40)):
    Image.new("RGB", size, color).save(path, format="PNG")
    return path


def noise_bytes(image_format, size=64, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format)
    return buffer.getvalue()


def reason_of(result, name):
    for path, reason in result.skipped:
        if os.path.basename(os.fsencode(path)) == os.fsencode(name):
            return reason
    raise AssertionError(f"{name} not in skipped: {result.skipped}")


@pytest.fixture
def mixed_folder(tmp_path):
    """A folder with three good images and one of each bad kind."""
    save_png(tmp_path / "good.png")
    (tmp_path / "photo.jpg").write_bytes(noise_bytes("JPEG"))
    # PNG data behind a .jpg name, as in selfie2anime.
    (tmp_path / "png_named.jpg").write_bytes(noise_bytes("PNG", seed=1))

    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "truncated.png").write_bytes(noise_bytes("PNG", seed=2)[:3000])
    (tmp_path / "truncated.jpg").write_bytes(noise_bytes("JPEG", seed=3)[:1500])
    (tmp_path / "notes.png").write_text("just some text, not pixels\n")
    (tmp_path / "page.jpg").write_text("<!DOCTYPE html><html><body>404</body></html>")
    (tmp_path / "binary.png").write_bytes(b"\x80\x81\xfe" * 100)
    Image.new("RGB", (32, 32)).save(tmp_path / "scan.tif", format="TIFF")
    save_png(tmp_path / "pixel.png", size=(1, 1))
    (tmp_path / "dangling.png").symlink_to(tmp_path / "missing-target.png")
    (tmp_path / ".hidden.png").write_bytes(noise_bytes("PNG", seed=4))
    (tmp_path / ".thumbnails").mkdir()
    save_png(tmp_path / ".thumbnails" / "thumb.png")
    return tmp_path


def test_scan_keeps_only_good_files(mixed_folder):
    result = scan_image_folder(mixed_folder)

    names = [os.path.basename(p) for p in result.paths]
    assert names == ["good.png", "photo.jpg", "png_named.jpg"]


EXPECTED_REASONS = {
    "empty.png": "empty file",
    "truncated.png": "corrupt or truncated",
    "truncated.jpg": "corrupt or truncated",
    "notes.png": "not an image: text file",
    "page.jpg": "not an image: HTML",
    "binary.png": "unsupported format",
    "scan.tif": "unsupported format: TIFF",
    "pixel.png": "too small: 1x1",
    "dangling.png": "broken symlink",
    ".hidden.png": "hidden: hidden file",
    ".thumbnails": "hidden: hidden folder",
}


def test_scan_reason_per_bad_file(mixed_folder):
    result = scan_image_folder(mixed_folder)

    # One scan, one check per file: a failure names the file and its reason.
    for name, expected in EXPECTED_REASONS.items():
        reason = reason_of(result, name)
        assert reason.startswith(expected), f"{name}: {reason!r} does not start with {expected!r}"


def test_scan_counts_reasons(mixed_folder):
    counts = scan_image_folder(mixed_folder).skip_counts()

    assert counts["corrupt or truncated"] == 2
    assert counts["not an image"] == 2
    assert counts["unsupported format"] == 2
    assert counts["hidden"] == 2
    assert sum(counts.values()) == 11


def test_scan_logs_one_summary(mixed_folder, caplog):
    with caplog.at_level(logging.WARNING):
        scan_image_folder(mixed_folder)

    summaries = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(summaries) == 1
    assert "3 usable images, 11 skipped" in summaries[0]
    assert "corrupt or truncated: 2" in summaries[0]
    assert "binary.png" in summaries[0]


def test_scan_strict_names_file(mixed_folder):
    with pytest.raises(ValueError, match="Invalid file in image folder") as info:
        scan_image_folder(mixed_folder, strict=True)

    message = str(info.value)
    assert "binary.png" in message
    assert "strict=False" in message
    assert f"Received: data_dir={str(mixed_folder)!r}" in message


def test_scan_strict_ignores_hidden(tmp_path):
    save_png(tmp_path / "a.png")
    (tmp_path / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")

    result = scan_image_folder(tmp_path, strict=True)

    assert len(result.paths) == 1


def test_scan_rejects_size_from_header(tmp_path):
    # The pixel data is cut off, so only a header-only check can report the size.
    (tmp_path / "big.png").write_bytes(noise_bytes("PNG", size=64)[:200])
    save_png(tmp_path / "small.png", size=(16, 16))

    result = scan_image_folder(tmp_path, max_pixels=32 * 32)

    assert reason_of(result, "big.png").startswith("too many pixels: 64x64")
    assert len(result.paths) == 1


def test_scan_default_max_pixels(tmp_path):
    # A 1-bit image compresses to a few kB while its header says 4097x4097.
    Image.new("1", (4097, 4097)).save(tmp_path / "huge.png")
    save_png(tmp_path / "ok.png")

    result = scan_image_folder(tmp_path)

    assert reason_of(result, "huge.png").startswith("too many pixels")


def test_scan_directory_symlink_loop(tmp_path):
    save_png(tmp_path / "a.png")
    (tmp_path / "sub").mkdir()
    save_png(tmp_path / "sub" / "b.png")
    (tmp_path / "sub" / "back").symlink_to(tmp_path, target_is_directory=True)

    result = scan_image_folder(tmp_path)

    assert sorted(os.path.basename(p) for p in result.paths) == ["a.png", "b.png"]
    assert reason_of(result, "back").startswith("symlink loop")


def test_scan_file_symlink_loop(tmp_path):
    save_png(tmp_path / "a.png")
    (tmp_path / "self.png").symlink_to(tmp_path / "self.png")

    result = scan_image_folder(tmp_path)

    assert reason_of(result, "self.png").startswith("symlink loop")


def test_scan_non_utf8_name(tmp_path):
    name = b"caf\xe9.png"
    save_png(os.path.join(os.fsencode(tmp_path), name))
    save_png(tmp_path / "plain.png")

    result = scan_image_folder(tmp_path)

    assert len(result.paths) == 2
    assert os.path.basename(os.fsencode(result.paths[0])) == name


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode bits")
def test_scan_unreadable_file_mode(tmp_path):
    save_png(tmp_path / "a.png")
    locked = save_png(tmp_path / "locked.png")
    locked.chmod(0)

    result = scan_image_folder(tmp_path)

    assert reason_of(result, "locked.png").startswith("unreadable: permission denied")


def test_scan_unreadable_file_error(tmp_path, monkeypatch):
    save_png(tmp_path / "a.png")
    save_png(tmp_path / "locked.png")
    real_open = scan.Image.open

    def open_or_deny(path, *args, **kwargs):
        if os.fsencode(path).endswith(b"locked.png"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(scan.Image, "open", open_or_deny)
    result = scan_image_folder(tmp_path)

    assert reason_of(result, "locked.png") == "unreadable: permission denied"


def test_scan_order_sorted_recursive(tmp_path):
    for name in ["b.png", "a/z.png", "a/c.png", "A.png"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        save_png(tmp_path / name)

    result = scan_image_folder(tmp_path)

    relative = [os.path.relpath(p, tmp_path) for p in result.paths]
    assert relative == ["A.png", "a/c.png", "a/z.png", "b.png"]


def test_scan_missing_folder(tmp_path):
    missing = tmp_path / "nope"

    with pytest.raises(ValueError, match="does not exist") as info:
        scan_image_folder(missing)

    assert f"Received: data_dir={str(missing)!r}" in str(info.value)


def test_scan_file_instead_of_folder(tmp_path):
    path = save_png(tmp_path / "a.png")

    with pytest.raises(ValueError, match="is not a folder"):
        scan_image_folder(path)


def test_scan_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="is empty") as info:
        scan_image_folder(tmp_path)

    assert "Received: data_dir=" in str(info.value)


def test_scan_no_usable_image(tmp_path):
    (tmp_path / "a.png").write_text("text")
    (tmp_path / "b.png").write_bytes(b"")

    with pytest.raises(ValueError, match="contains no usable image") as info:
        scan_image_folder(tmp_path)

    assert "empty file: 1" in str(info.value)
    assert "Received: data_dir=" in str(info.value)


@pytest.mark.large
def test_scan_real_cartoonset(cartoonset_dir):
    result = scan_image_folder(cartoonset_dir)

    assert len(result.paths) == 630
    assert result.skipped == []


@pytest.mark.large
def test_scan_real_png_named_jpg(selfie2anime_dir):
    result = scan_image_folder(selfie2anime_dir)

    assert len(result.paths) == 200
    assert all(p.endswith(".jpg") for p in result.paths)
