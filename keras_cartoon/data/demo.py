"""Offline demo image sets rendered from python-avatars SVG art with cairosvg.

A fresh machine with no data can still train: `demo_data_dir()` renders a
deterministic set of avatar PNGs once and caches it. Two domains differ in
style so a CycleGAN has something to translate:

- "cartoon": flat avatars on a white background (like Cartoon Set), natural
  hair colours, short and medium hair, everyday clothing colours.
- "anime": avatars inside a pastel disc on a dark navy background, long
  hair in vivid colours (pink, blue, violet, silver), school-uniform colours.
"""

import io
import os
import pathlib
import random
import shutil
import tempfile
import time

from absl import logging

# The avatar SVG canvas is 264 x 280 (width x height) in python-avatars 1.x.
SVG_WIDTH = 264
SVG_HEIGHT = 280
DOMAINS = ("cartoon", "anime")
# One image costs about 23 ms of CPU time (cairosvg is about two thirds of it),
# so 512 take about 12 s on one idle core of the 2-core development machine.
DEFAULT_NUM_IMAGES = 512
DEFAULT_IMAGE_SIZE = 128
_LOG_EVERY = 128

_CARTOON_HAIR = (
    "BOB",
    "BUN",
    "CAESAR",
    "CAESAR_SIDE_PART",
    "CURLY",
    "FRIZZLE",
    "FRO",
    "SHAGGY",
    "SHAGGY_MULLET",
    "SHAVED_SIDES",
    "SHORT_CURLY",
    "SHORT_FLAT",
    "SHORT_ROUND",
    "SHORT_WAVED",
    "SIDES",
    "BUZZCUT",
    "NONE",
)
_ANIME_HAIR = (
    "BIG_HAIR",
    "BOB",
    "BUN",
    "CURVY",
    "LONG_NOT_TOO_LONG",
    "MIA_WALLACE",
    "STRAIGHT_1",
    "STRAIGHT_2",
    "STRAIGHT_STRAND",
    "FRIDA",
    "BRAIDS",
)
# Costume outfits cover the face or shoulders in ways no face data set has.
_COSTUMES = ("NONE", "ASTRONAUT_SUIT", "BOND_SUIT", "CHEF", "GLADIATOR", "JEDI_ROBE", "SHIRT_WICK")
_CARTOON_HAIR_COLORS = ("#2C1B18", "#4A312C", "#724133", "#A55728", "#B58143", "#D6B370", "#C93305")
_ANIME_HAIR_COLORS = (
    "#F59797",
    "#ECDCBF",
    "#E8E1E1",
    "#5B6EE1",
    "#8E5BD6",
    "#3FB8C9",
    "#F2A5D0",
    "#2F3FA0",
)
_CARTOON_CLOTHING_COLORS = (
    "#262E33",
    "#3C4F5C",
    "#5199E4",
    "#25557C",
    "#929598",
    "#A7FFC4",
    "#FF5C5C",
    "#FFDEB5",
)
_ANIME_CLOTHING_COLORS = ("#1F2A5A", "#FFFFFF", "#C8102E", "#F4E8D0")
_ANIME_DISC_COLORS = ("#FFD6E8", "#D9E4FF", "#E6D9FF", "#FFF1C9")
_ANIME_PAGE_COLOR = (24, 28, 56)
_CARTOON_PAGE_COLOR = (255, 255, 255)


def default_cache_root():
    """Return `$KERAS_CARTOON_CACHE/demo`, or `~/.cache/keras_cartoon/demo` when unset."""
    root = os.environ.get("KERAS_CARTOON_CACHE")
    base = pathlib.Path(root) if root else pathlib.Path.home() / ".cache" / "keras_cartoon"
    return base / "demo"


def _random_avatar(rng, domain):
    """Build one `python_avatars.Avatar` from `rng` (never the global `random`)."""
    import python_avatars as pa

    def pick(enum_cls, exclude=()):
        return rng.choice([member for member in enum_cls if member.name not in exclude])

    def pick_or_none(enum_cls, none_probability, exclude=()):
        # Two draws whatever the outcome, so later avatars do not depend on this one.
        choice = pick(enum_cls, exclude=exclude + ("NONE",))
        return enum_cls.NONE if rng.random() < none_probability else choice

    if domain == "cartoon":
        return pa.Avatar(
            style=pa.AvatarStyle.TRANSPARENT,
            top=pa.HairType[rng.choice(_CARTOON_HAIR)],
            eyebrows=pick(pa.EyebrowType),
            eyes=pick(pa.EyeType),
            nose=pick(pa.NoseType),
            mouth=pick(pa.MouthType, exclude=("VOMIT", "SCREAM_OPEN")),
            facial_hair=pick_or_none(pa.FacialHairType, 0.6),
            skin_color=rng.choice(list(pa.SkinColor)),
            hair_color=rng.choice(_CARTOON_HAIR_COLORS),
            facial_hair_color=rng.choice(_CARTOON_HAIR_COLORS),
            accessory=pick_or_none(pa.AccessoryType, 0.5, exclude=("EYEPATCH",)),
            clothing=pick(pa.ClothingType, exclude=_COSTUMES),
            clothing_color=rng.choice(_CARTOON_CLOTHING_COLORS),
            shirt_graphic=pick(pa.ClothingGraphic),
        )
    return pa.Avatar(
        style=pa.AvatarStyle.CIRCLE,
        background_color=rng.choice(_ANIME_DISC_COLORS),
        top=pa.HairType[rng.choice(_ANIME_HAIR)],
        eyebrows=pa.EyebrowType.DEFAULT_NATURAL,
        eyes=rng.choice(
            [
                pa.EyeType.DEFAULT,
                pa.EyeType.HAPPY,
                pa.EyeType.HEART,
                pa.EyeType.WINK,
                pa.EyeType.SURPRISED,
            ]
        ),
        nose=pa.NoseType.DEFAULT,
        mouth=rng.choice(
            [pa.MouthType.SMILE, pa.MouthType.TWINKLE, pa.MouthType.DEFAULT, pa.MouthType.TONGUE]
        ),
        facial_hair=pa.FacialHairType.NONE,
        skin_color=rng.choice([pa.SkinColor.PALE, pa.SkinColor.LIGHT]),
        hair_color=rng.choice(_ANIME_HAIR_COLORS),
        facial_hair_color=rng.choice(_ANIME_HAIR_COLORS),
        accessory=pa.AccessoryType.NONE,
        clothing=rng.choice(
            [pa.ClothingType.BLAZER_SHIRT, pa.ClothingType.COLLAR_SWEATER, pa.ClothingType.HOODIE]
        ),
        clothing_color=rng.choice(_ANIME_CLOTHING_COLORS),
        shirt_graphic=pa.ClothingGraphic.BAT,
    )


def render_avatar_png(avatar, image_size, page_color):
    """Rasterise `avatar` and return a square RGB Pillow image.

    The 264x280 SVG is flattened onto `page_color`, centre-cropped to a
    square (nothing is stretched) and resized with Lanczos.
    """
    import cairosvg
    from PIL import Image

    # NOTE: cairosvg 2.x drops half of some masked shapes when it scales this
    # art (output_width), so render at the native 264x280 and resize in Pillow.
    png = cairosvg.svg2png(bytestring=avatar.render().encode("utf-8"))
    with Image.open(io.BytesIO(png)) as rendered:
        rgba = rendered.convert("RGBA")
    page = Image.new("RGBA", rgba.size, page_color + (255,))
    flat = Image.alpha_composite(page, rgba).convert("RGB")
    top = (SVG_HEIGHT - SVG_WIDTH) // 2
    square = flat.crop((0, top, SVG_WIDTH, top + SVG_WIDTH))
    return square.resize((image_size, image_size), Image.Resampling.LANCZOS)


def _render_to_file(avatar, path, image_size, page_color):
    render_avatar_png(avatar, image_size, page_color).save(path, format="PNG")


def _render_set(target, domain, num_images, seed, image_size):
    # A string seed is hashed with SHA-512 by `random.Random`, the same on every platform.
    rng = random.Random(f"keras_cartoon-demo-{domain}-{seed}")
    page_color = _CARTOON_PAGE_COLOR if domain == "cartoon" else _ANIME_PAGE_COLOR
    start = time.perf_counter()
    # NOTE: rendering is serial. A process pool would need the "spawn" start
    # method, because TensorFlow threads make fork unsafe. Spawned workers
    # re-import the trainer's main module, TensorFlow included, which takes
    # several seconds per worker, so the pool would gain little.
    for index in range(num_images):
        image = render_avatar_png(_random_avatar(rng, domain), image_size, page_color)
        image.save(target / f"{domain}_{index:05d}.png", format="PNG")
        if (index + 1) % _LOG_EVERY == 0 and index + 1 < num_images:
            logging.info("Demo %s images: %d/%d rendered.", domain, index + 1, num_images)
    logging.info(
        "Rendered %d demo %s images in %.1f s into %s.",
        num_images,
        domain,
        time.perf_counter() - start,
        target,
    )


def demo_data_dir(
    domain="cartoon",
    num_images=DEFAULT_NUM_IMAGES,
    seed=0,
    cache_dir=None,
    image_size=DEFAULT_IMAGE_SIZE,
):
    """Return a folder of deterministic demo PNGs, rendering it on first use.

    The set is rendered offline from python-avatars art and cached under
    `<cache_dir>/<domain>-<seed>-<num_images>-<image_size>px`, with `cache_dir`
    defaulting to `$KERAS_CARTOON_CACHE/demo` or `~/.cache/keras_cartoon/demo`.
    Images are written to a temporary sibling folder that is renamed into
    place when complete, so a killed run never leaves a partial set.

    Args:
        domain: "cartoon" or "anime" (a distinct style, for CycleGAN).
        num_images: how many images to render.
        seed: seed of the avatar choices; the same seed gives the same images.
        cache_dir: root folder of the cache.
        image_size: side of the square PNGs, in pixels.
    """
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}. Received: domain={domain!r}")
    if not (isinstance(num_images, int) and num_images > 0):
        raise ValueError(
            f"num_images must be a positive integer. Received: num_images={num_images!r}"
        )
    if not (isinstance(image_size, int) and image_size >= 16):
        raise ValueError(
            f"image_size must be an integer of at least 16. Received: image_size={image_size!r}"
        )

    root = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_root()
    target = root / f"{domain}-{seed}-{num_images}-{image_size}px"
    if target.is_dir():
        return target

    root.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    try:
        logging.info(
            "Rendering %d demo %s images (seed %d), cached for next time.", num_images, domain, seed
        )
        _render_set(staging, domain, num_images, seed, image_size)
        try:
            os.rename(staging, target)
        except OSError:
            # Another process finished the same set first; its copy is identical.
            if not target.is_dir():
                raise
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
