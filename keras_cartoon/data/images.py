"""Decode one image file with Pillow into a float32 RGB array in [-1, 1]."""

import math
import os
import struct
import zlib

import numpy as np
from PIL import Image
from PIL import ImageOps

from keras_cartoon.config import DataConfig

# Pillow format names that the scan accepts and `decode_image_file` reads.
# MPO is the multi-picture JPEG that many phone cameras write.
SUPPORTED_FORMATS = ("PNG", "JPEG", "MPO", "BMP", "GIF")
if "WEBP" in Image.registered_extensions().values():
    SUPPORTED_FORMATS += ("WEBP",)

# Pillow raises these for corrupt or truncated data: `OSError` ("image file is
# truncated", `UnidentifiedImageError`), `SyntaxError` (bad PNG chunks),
# `zlib.error` and `struct.error` (bad headers), `EOFError` (short GIF frames).
DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)

_WHITE = (255, 255, 255)


def display_path(path):
    """Return `path` as text for messages, with undecodable bytes escaped."""
    if isinstance(path, bytes):
        return path.decode("utf-8", errors="backslashreplace")
    text = os.fspath(path)
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")


class ImageDecodeError(ValueError):
    """An image file that Pillow cannot turn into an RGB array.

    Attributes:
        path: the file, as given.
        reason: what failed, in a few words.
    """

    def __init__(self, path, reason):
        self.path = path
        self.reason = reason
        super().__init__(
            f"Could not decode image file {display_path(path)}: {reason}. Replace or remove "
            "the file, or let the folder scan skip it (strict=False). "
            f"Received: path={display_path(path)!r}"
        )

    def __reduce__(self):
        # Keep the two-argument constructor working across processes and tf.numpy_function.
        return (type(self), (self.path, self.reason))


def flatten_to_rgb(image):
    """Convert any Pillow mode to 8-bit RGB, compositing transparency onto white.

    Handles palette images with a transparent index, LA/RGBA/PA alpha,
    grayscale, 1-bit, CMYK and YCbCr, and 16-bit or 32-bit integer grayscale
    (PNG files with bit depth 16), which are scaled to 8 bits.
    """
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit grayscale PNG opens as "I;16" (or "I"); values span 0..65535.
        # "I" and "F" carry no bit depth, so values above 255 are taken as 16-bit.
        values = np.asarray(image).astype(np.float64)
        sixteen_bit = mode.startswith("I;16") or (mode == "I" and values.max(initial=0) > 255)
        scale = 257.0 if sixteen_bit else 1.0
        gray = np.clip(np.round(values / scale), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")

    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L", "RGB") and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode != "RGB":
        return image.convert("RGB")
    return image


def center_crop_box(width, height, center_crop_fraction):
    """Return the (left, top, right, bottom) box of the centred square crop.

    The square side is `center_crop_fraction` of the shorter side; `None`
    means 1.0, so non-square images are cropped to a square, never stretched.
    """
    fraction = 1.0 if center_crop_fraction is None else center_crop_fraction
    side = max(1, int(round(min(width, height) * fraction)))
    left = (width - side) // 2
    top = (height - side) // 2
    return (left, top, left + side, top + side)


def check_center_crop_fraction(center_crop_fraction):
    if center_crop_fraction is None:
        return
    if not (isinstance(center_crop_fraction, (int, float)) and 0.0 < center_crop_fraction <= 1.0):
        raise ValueError(
            "center_crop_fraction must be a number in (0, 1] or None. "
            f"Received: center_crop_fraction={center_crop_fraction!r}"
        )


def decode_image_uint8(
    path, image_size, center_crop_fraction=None, max_pixels=DataConfig.max_pixels
):
    """Decode `path` to a uint8 array of shape (image_size, image_size, 3).

    Same steps as `decode_image_file`; the pipeline caches this uint8 form,
    which takes a quarter of the memory of float32.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
            if max_pixels is not None and width * height > max_pixels:
                raise ImageDecodeError(
                    path, f"too many pixels ({width}x{height} > max_pixels={max_pixels})"
                )
            if image.format not in SUPPORTED_FORMATS:
                raise ImageDecodeError(
                    path,
                    f"unsupported format {image.format} "
                    f"(supported: {', '.join(SUPPORTED_FORMATS)})",
                )
            if image.format in ("JPEG", "MPO"):
                # libjpeg can decode at 1/2, 1/4 or 1/8 scale. Pillow picks the
                # smallest scale that still covers the size the crop needs.
                fraction = center_crop_fraction or 1.0
                needed = math.ceil(image_size / fraction)
                image.draft("RGB", (needed, needed))
            # GIF and other animations: Image.open is positioned on frame 0.
            image = ImageOps.exif_transpose(image)
            image.load()
            rgb = flatten_to_rgb(image)
    except ImageDecodeError:
        raise
    except FileNotFoundError as error:
        raise ImageDecodeError(path, "file not found") from error
    except PermissionError as error:
        raise ImageDecodeError(path, "permission denied") from error
    except IsADirectoryError as error:
        raise ImageDecodeError(path, "is a directory") from error
    except Image.UnidentifiedImageError as error:
        raise ImageDecodeError(path, "not an image file Pillow recognises") from error
    except DECODE_ERRORS as error:
        raise ImageDecodeError(
            path, f"corrupt or truncated ({type(error).__name__}: {error})"
        ) from error

    box = center_crop_box(rgb.width, rgb.height, center_crop_fraction)
    if box != (0, 0, rgb.width, rgb.height):
        rgb = rgb.crop(box)
    if rgb.size != (image_size, image_size):
        rgb = rgb.resize((image_size, image_size), Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8)


def uint8_to_float(pixels):
    """Map uint8 pixels 0..255 to float32 in [-1, 1] (0 -> -1, 255 -> 1)."""
    return pixels.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def decode_image_file(
    path, image_size, center_crop_fraction=None, max_pixels=DataConfig.max_pixels
):
    """Decode an image file to float32 `(image_size, image_size, 3)` in [-1, 1].

    Pillow detects the format from the file's content, so a PNG named `.jpg`
    decodes. Steps: EXIF orientation applied, first frame of an animation,
    alpha composited onto white, any mode to 8-bit RGB, centre crop of
    `center_crop_fraction` of the shorter side (a square crop when `None`),
    then a Lanczos (antialiased) resize.

    Args:
        path: file path, `str`, `bytes` or `os.PathLike`.
        image_size: output height and width in pixels.
        center_crop_fraction: side of the centred square crop as a fraction
            of the shorter image side, in (0, 1], or `None` for 1.0.
        max_pixels: images with more pixels are rejected from the header,
            before decoding; `None` turns the check off.

    Raises:
        ImageDecodeError: the file is missing, unreadable, not an image, in
            an unsupported format, too large, corrupt or truncated.
    """
    check_center_crop_fraction(center_crop_fraction)
    if not (isinstance(image_size, int) and image_size > 0):
        raise ValueError(
            f"image_size must be a positive integer. Received: image_size={image_size!r}"
        )
    return uint8_to_float(decode_image_uint8(path, image_size, center_crop_fraction, max_pixels))
