"""Classify every file of an image folder before training starts."""

import collections
import concurrent.futures
import dataclasses
import os
import stat

from absl import logging
from PIL import Image

from keras_cartoon.config import DataConfig
from keras_cartoon.data.images import DECODE_ERRORS
from keras_cartoon.data.images import SUPPORTED_FORMATS
from keras_cartoon.data.images import display_path

# Images with a shorter side below this hold no face (1x1 tracking pixels, icons).
MIN_IMAGE_SIDE = 8
# Folders with at least this many files get a tqdm progress bar.
PROGRESS_MIN_FILES = 2000
# Skipped file names shown in the summary log line.
NUM_LOGGED_EXAMPLES = 5

# Skip reasons: each skipped file's reason starts with one of these, then ": detail".
EMPTY = "empty file"
NOT_AN_IMAGE = "not an image"
UNSUPPORTED = "unsupported format"
CORRUPT = "corrupt or truncated"
TOO_SMALL = "too small"
TOO_LARGE = "too many pixels"
UNREADABLE = "unreadable"
BROKEN_SYMLINK = "broken symlink"
SYMLINK_LOOP = "symlink loop"
HIDDEN = "hidden"
NOT_A_FILE = "not a regular file"

_TEXT_PREFIXES = (b"<!doctype", b"<html", b"<?xml", b"<svg", b"{", b"[")


@dataclasses.dataclass
class ScanResult:
    """Usable image paths and skipped files of one folder scan.

    Attributes:
        paths: usable image files, sorted by their bytes, as `str` (names that
            are not valid UTF-8 decode with surrogateescape; `os.fsencode`
            gives back the original bytes).
        skipped: `(path, reason)` pairs, reason starting with a category such
            as "empty file" or "corrupt or truncated".
    """

    paths: list
    skipped: list

    def skip_counts(self):
        """Return a `collections.Counter` of skip categories."""
        return collections.Counter(reason.split(":", 1)[0] for _, reason in self.skipped)


def _sniff_non_image(path):
    """Return a reason for a file Pillow does not recognise, from its first bytes."""
    with open(path, "rb") as file:
        head = file.read(512)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if stripped.startswith(_TEXT_PREFIXES) or b"<html" in stripped:
        return f"{NOT_AN_IMAGE}: HTML, XML or JSON text"
    try:
        head.decode("utf-8")
        return f"{NOT_AN_IMAGE}: text file"
    except UnicodeDecodeError:
        return f"{UNSUPPORTED}: Pillow does not recognise the content"


def classify_image_file(path, max_pixels=DataConfig.max_pixels):
    """Return `None` for a usable image file, else the skip reason.

    Checks, in order: empty, readable, recognised by Pillow, supported format,
    size from the header (without decoding), `verify()` (PNG chunk CRCs),
    then a full decode, which is what detects truncated PNG and JPEG data.
    """
    try:
        if os.stat(path).st_size == 0:
            return f"{EMPTY}: 0 bytes"
        with Image.open(path) as image:
            image_format = image.format
            width, height = image.size
    except PermissionError:
        return f"{UNREADABLE}: permission denied"
    except Image.UnidentifiedImageError:
        return _sniff_non_image(path)
    except OSError as error:
        return f"{UNREADABLE}: {type(error).__name__}: {error}"
    except DECODE_ERRORS as error:
        return f"{CORRUPT}: {type(error).__name__}: {error}"

    if image_format not in SUPPORTED_FORMATS:
        return f"{UNSUPPORTED}: {image_format} (supported: {', '.join(SUPPORTED_FORMATS)})"
    if min(width, height) < MIN_IMAGE_SIDE:
        return f"{TOO_SMALL}: {width}x{height}, the shorter side must be at least {MIN_IMAGE_SIDE}"
    if max_pixels is not None and width * height > max_pixels:
        return f"{TOO_LARGE}: {width}x{height} > max_pixels={max_pixels}"

    try:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            if image_format in ("JPEG", "MPO"):
                # A reduced-scale decode still reads every entropy-coded byte.
                image.draft("RGB", (64, 64))
            image.load()
    except DECODE_ERRORS as error:
        return f"{CORRUPT}: {type(error).__name__}: {error}"
    return None


def _walk(root, skipped):
    """List regular files under `root` (bytes), recording symlink and hidden skips.

    Directory symlinks are followed once: a directory already visited (same
    device and inode) is skipped as a symlink loop, so cycles end.
    """
    files = []
    visited = set()
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            info = os.stat(directory)
        except OSError as error:
            skipped.append((os.fsdecode(directory), f"{UNREADABLE}: {error.strerror}"))
            continue
        if (info.st_dev, info.st_ino) in visited:
            skipped.append((os.fsdecode(directory), f"{SYMLINK_LOOP}: directory already scanned"))
            continue
        visited.add((info.st_dev, info.st_ino))
        try:
            entries = list(os.scandir(directory))
        except OSError as error:
            skipped.append((os.fsdecode(directory), f"{UNREADABLE}: {error.strerror}"))
            continue

        for entry in entries:
            path = entry.path
            if entry.name.startswith(b"."):
                kind = "folder" if entry.is_dir() else "file"
                skipped.append((os.fsdecode(path), f"{HIDDEN}: hidden {kind}"))
                continue
            try:
                mode = os.stat(path).st_mode
            except FileNotFoundError:
                skipped.append((os.fsdecode(path), f"{BROKEN_SYMLINK}: target does not exist"))
                continue
            except OSError as error:
                # ELOOP: a symlink that points to itself or a cycle of file links.
                reason = SYMLINK_LOOP if entry.is_symlink() else UNREADABLE
                skipped.append((os.fsdecode(path), f"{reason}: {error.strerror}"))
                continue
            if stat.S_ISDIR(mode):
                stack.append(path)
            elif stat.S_ISREG(mode):
                files.append(path)
            else:
                skipped.append((os.fsdecode(path), f"{NOT_A_FILE}: device, socket or pipe"))
    return files


def _log_summary(data_dir, result, num_files):
    counts = result.skip_counts()
    if not result.skipped:
        logging.info("Scanned %s: %d usable images.", display_path(data_dir), len(result.paths))
        return
    count_text = ", ".join(f"{reason}: {count}" for reason, count in sorted(counts.items()))
    examples = "; ".join(
        f"{display_path(path)} ({reason})" for path, reason in result.skipped[:NUM_LOGGED_EXAMPLES]
    )
    logging.warning(
        "Scanned %s: %d files, %d usable images, %d skipped (%s). First skipped: %s",
        display_path(data_dir),
        num_files,
        len(result.paths),
        len(result.skipped),
        count_text,
        examples,
    )


def scan_image_folder(data_dir, strict=False, max_pixels=DataConfig.max_pixels, num_threads=None):
    """Find the usable images under `data_dir`, recursively, in sorted order.

    Every file is classified before training. Skip categories: empty,
    unreadable, text or HTML named as an image, unsupported format, too small
    (shorter side below `MIN_IMAGE_SIDE`), too many pixels (more than
    `max_pixels`, read from the header), corrupt or truncated (Pillow
    `verify()` plus a full decode), broken symlink, symlink loop, and hidden
    files and folders. The checks run on a thread pool, because Pillow
    releases the GIL while decoding.

    Args:
        data_dir: folder to scan.
        strict: raise on the first bad file instead of skipping it.
        max_pixels: the most pixels an image may have; `None` turns it off.
        num_threads: scan threads; `None` picks `min(32, cpu_count + 4)`.

    Returns:
        A `ScanResult`. Skips are logged once as a summary with counts per reason.

    Raises:
        ValueError: the folder is missing, empty or has no usable image, or
            `strict=True` and a file is bad.
    """
    from tqdm import tqdm

    root = os.fsencode(data_dir)
    if not os.path.isdir(root):
        reason = "does not exist" if not os.path.exists(root) else "is not a folder"
        raise ValueError(
            f"Image folder {display_path(root)} {reason}. Pass a folder of PNG or JPEG "
            f"files. Received: data_dir={display_path(data_dir)!r}"
        )

    skipped = []
    files = sorted(_walk(root, skipped))
    if not files and not skipped:
        raise ValueError(
            f"Image folder {display_path(root)} is empty. Add image files to it. "
            f"Received: data_dir={display_path(data_dir)!r}"
        )

    workers = num_threads or min(32, (os.cpu_count() or 1) + 4)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        reasons = pool.map(lambda path: classify_image_file(path, max_pixels), files)
        progress = tqdm(
            reasons,
            total=len(files),
            desc="Scanning images",
            unit="file",
            disable=len(files) < PROGRESS_MIN_FILES,
        )
        paths = []
        for path, reason in zip(files, progress):
            if reason is None:
                paths.append(os.fsdecode(path))
            else:
                skipped.append((os.fsdecode(path), reason))

    skipped.sort(key=lambda item: os.fsencode(item[0]))
    result = ScanResult(paths=paths, skipped=skipped)

    # Hidden files (.DS_Store, editor swap files) are expected and never fail strict mode.
    bad_files = [item for item in skipped if not item[1].startswith(HIDDEN)]
    if strict and bad_files:
        path, reason = bad_files[0]
        raise ValueError(
            f"Invalid file in image folder: {display_path(path)} ({reason}). "
            f"{len(bad_files)} file(s) in total failed the scan. Remove or fix them, or pass "
            f"strict=False to skip them with a logged count. "
            f"Received: data_dir={display_path(data_dir)!r}"
        )
    # `skipped` already contains the files that failed classification, so count each file once.
    _log_summary(root, result, len(paths) + len(skipped))
    if not paths:
        count_text = ", ".join(f"{k}: {v}" for k, v in sorted(result.skip_counts().items()))
        raise ValueError(
            f"Image folder {display_path(root)} contains no usable image "
            f"({len(skipped)} skipped: {count_text}). Supported formats: "
            f"{', '.join(SUPPORTED_FORMATS)}. Received: data_dir={display_path(data_dir)!r}"
        )
    return result
