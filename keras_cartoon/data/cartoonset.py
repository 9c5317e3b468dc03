"""TFDS builder for Google's Cartoon Set (10k and 100k), with attributes.

Cartoon Set v1.0 (Cole, Mosseri, Krishnan, Sarna, Maschinot, Freeman, Fuman;
https://google.github.io/cartoonset/, CC BY 4.0) ships 500x500 RGBA PNGs
named `csX.png`, each with a `csX.csv` listing lines of
`"attribute_name", variant_index, num_variants`.

Usage, offline from archives or folders you downloaded yourself:

    import tensorflow_datasets as tfds
    from keras_cartoon.data.cartoonset import CartoonSet

    builder = CartoonSet(config="10k", data_dir="~/tensorflow_datasets")
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir="~/Downloads/cartoonset")
    )
    train = builder.as_dataset(split="train")
"""

import csv
import os
import tarfile

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

# Listed on https://google.github.io/cartoonset/download.html.
# NOTE: storage.cloud.google.com links may redirect to a Google sign-in page
# for scripted downloads; the same objects are served without sign-in at
# https://storage.googleapis.com/cartoonset_public_files/<name>. Put either
# archive in manual_dir to skip the download.
DOWNLOAD_URLS = {
    "10k": "https://storage.cloud.google.com/cartoonset_public_files/cartoonset10k.tgz",
    "100k": "https://storage.cloud.google.com/cartoonset_public_files/cartoonset100k.tgz",
}

# Attribute names in the Cartoon Set v1.0 CSV files: 10 artwork, 4 colour and
# 4 proportion attributes.
ATTRIBUTE_NAMES = (
    "chin_length",
    "eye_angle",
    "eye_color",
    "eye_eyebrow_distance",
    "eye_lashes",
    "eye_lid",
    "eye_slant",
    "eyebrow_shape",
    "eyebrow_thickness",
    "eyebrow_weight",
    "eyebrow_width",
    "face_color",
    "face_shape",
    "facial_hair",
    "glasses",
    "glasses_color",
    "hair",
    "hair_color",
)
# Attribute value written when an image has no CSV file or the CSV lacks the name.
MISSING_ATTRIBUTE = -1


def read_attributes(csv_path):
    """Return `{name: variant_index}` for every `ATTRIBUTE_NAMES` entry of one CSV file."""
    attributes = {name: MISSING_ATTRIBUTE for name in ATTRIBUTE_NAMES}
    if not os.path.exists(csv_path):
        return attributes
    with open(csv_path, newline="", encoding="utf-8") as file:
        for row in csv.reader(file, skipinitialspace=True):
            if len(row) < 2:
                continue
            name = row[0].strip()
            if name in attributes:
                attributes[name] = int(row[1])
            else:
                logging.log_first_n(
                    logging.WARNING, "Unknown Cartoon Set attribute %r in %s.", 5, name, csv_path
                )
    return attributes


def _find_images(root):
    """Return the sorted `cs*.png` paths under `root`."""
    paths = []
    for directory, folders, files in os.walk(root):
        folders.sort()
        for name in sorted(files):
            if name.startswith("cs") and name.endswith(".png"):
                paths.append(os.path.join(directory, name))
    return paths


class CartoonSet(tfds.core.GeneratorBasedBuilder):
    """Google Cartoon Set: 2D cartoon avatar faces with 18 categorical attributes."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Cartoon Set v1.0 images and attribute CSV files."}
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name="10k", description="10,000 cartoons (cartoonset10k.tgz)."),
        tfds.core.BuilderConfig(name="100k", description="100,000 cartoons (cartoonset100k.tgz)."),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Download cartoonset10k.tgz or cartoonset100k.tgz from
    https://google.github.io/cartoonset/download.html and place the archive
    (or the folder it extracts to) in `manual_dir`. Only the archive or folder
    matching the config is read: `cartoonset10k*` for "10k", `cartoonset100k*`
    for "100k". With an empty manual_dir the builder downloads the archive.
    """

    def _info(self):
        attribute_features = {name: np.int64 for name in ATTRIBUTE_NAMES}
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    # RGBA: the background is transparent (stored as 255, 255, 255, 0).
                    "image": tfds.features.Image(shape=(None, None, 4), encoding_format="png"),
                    "file_name": tfds.features.Text(),
                    "attributes": tfds.features.FeaturesDict(attribute_features),
                }
            ),
            supervised_keys=None,
            homepage="https://google.github.io/cartoonset/",
            citation=(
                "Cartoon Set: An Image Dataset of Random Cartoons. Forrester Cole, Inbar "
                "Mosseri, Dilip Krishnan, Aaron Sarna, Aaron Maschinot, Bill Freeman, Shiraz Fuman."
            ),
        )

    def _manual_source(self, dl_manager):
        """Return the folder or archive in manual_dir for this config, or `None`."""
        try:
            manual_dir = dl_manager.manual_dir
        except AssertionError:
            return None
        stem = f"cartoonset{self.builder_config.name}"
        for candidate in (stem, f"{stem}.tgz", f"{stem}.tar.gz"):
            path = manual_dir / candidate
            if path.exists():
                return path
        raise ValueError(
            f"manual_dir {manual_dir} contains neither {stem}/ nor {stem}.tgz. "
            f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS} Received: manual_dir={os.fspath(manual_dir)!r}"
        )

    def _split_generators(self, dl_manager):
        source = self._manual_source(dl_manager)
        if source is None:
            root = dl_manager.download_and_extract(DOWNLOAD_URLS[self.builder_config.name])
        elif source.is_dir():
            root = source
        else:
            root = dl_manager.extract(source)
        return {"train": self._generate_examples(os.fspath(root))}

    def _generate_examples(self, root):
        paths = _find_images(root)
        if not paths:
            raise ValueError(f"No cs*.png images found under {root}. Received: root={root!r}")
        for path in paths:
            name = os.path.basename(path)
            csv_path = path[: -len(".png")] + ".csv"
            # TFDS stores the PNG bytes unchanged; decoding with 4 channels adds
            # an opaque alpha to RGB copies of the set.
            yield name, {"image": path, "file_name": name, "attributes": read_attributes(csv_path)}


def cartoonset_images(dataset, image_size, center_crop_fraction=None):
    """Map a `CartoonSet` split to float32 `(image_size, image_size, 3)` images in [-1, 1].

    Alpha is composited onto white and the centred square crop resized with
    an antialiased bilinear filter, matching `decode_image_file` up to the
    resampling filter (Lanczos there).
    """
    import tensorflow as tf

    fraction = 1.0 if center_crop_fraction is None else center_crop_fraction

    def convert(example):
        rgba = tf.cast(example["image"], tf.float32) / 255.0
        alpha = rgba[..., 3:]
        rgb = rgba[..., :3] * alpha + (1.0 - alpha)
        height, width = tf.shape(rgb)[0], tf.shape(rgb)[1]
        side = tf.cast(
            tf.round(tf.cast(tf.minimum(height, width), tf.float32) * fraction), tf.int32
        )
        rgb = tf.image.crop_to_bounding_box(
            rgb, (height - side) // 2, (width - side) // 2, side, side
        )
        rgb = tf.image.resize(rgb, (image_size, image_size), antialias=True)
        return tf.clip_by_value(rgb * 2.0 - 1.0, -1.0, 1.0)

    return dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE)
