"""Latent-space tools for a trained VAE: interpolation, traversal and attribute vectors.

Every function takes a model with the `CartoonVAE` interface
(`encode(x) -> (z_mean, z_log_var)`, `decode(z)`, `latent_dim`) and images
float32 `(N, H, W, 3)` in [-1, 1]. Faces are encoded to their posterior mean,
so the figures are deterministic.
"""

import csv
import pathlib

import keras
import numpy as np
from absl import logging

from keras_cartoon.metrics.vae_metrics import active_units, encode_dataset
from keras_cartoon.visualize import save_image_grid

INTERPOLATION_METHODS = ("linear", "spherical")


def decode_latents(vae, z, batch_size=64):
    """Decode `(N, latent_dim)` codes in batches to float32 images `(N, H, W, 3)`."""
    z = np.asarray(z, dtype=np.float32)
    decoded = [keras.ops.convert_to_numpy(vae.decode(z[i : i + batch_size])) for i in range(0, len(z), batch_size)]
    return np.concatenate(decoded).astype(np.float32)


def encode_means(vae, images, batch_size=64):
    """Return the posterior means `(N, latent_dim)` of `images` as float64."""
    z_mean, _ = encode_dataset(vae, images, batch_size)
    return z_mean


def interpolate(z_start, z_end, num_steps, method="linear"):
    """Return `num_steps` codes from `z_start` to `z_end` inclusive, `(num_steps, latent_dim)`.

    `"spherical"` is slerp (Shoemake, 1985; White, "Sampling Generative
    Networks", 2016): it follows the great circle and interpolates the norm
    linearly, so middle codes keep the norm typical of a Gaussian prior, which
    a straight line through the origin region does not. Nearly parallel codes
    fall back to linear interpolation.
    """
    if method not in INTERPOLATION_METHODS:
        raise ValueError(f"method must be one of {INTERPOLATION_METHODS}. Received: method={method!r}")
    if num_steps < 2:
        raise ValueError(f"num_steps must be at least 2 to include both endpoints. Received: num_steps={num_steps}")
    z_start = np.asarray(z_start, dtype=np.float64)
    z_end = np.asarray(z_end, dtype=np.float64)
    t = np.linspace(0.0, 1.0, num_steps)[:, None]
    linear = (1.0 - t) * z_start + t * z_end
    if method == "linear":
        return linear

    norm_start, norm_end = np.linalg.norm(z_start), np.linalg.norm(z_end)
    if norm_start == 0.0 or norm_end == 0.0:
        return linear
    cosine = np.clip(np.dot(z_start, z_end) / (norm_start * norm_end), -1.0, 1.0)
    angle = np.arccos(cosine)
    if np.sin(angle) < 1e-6:
        return linear
    unit_path = (np.sin((1.0 - t) * angle) * z_start / norm_start + np.sin(t * angle) * z_end / norm_end) / np.sin(angle)
    return unit_path * ((1.0 - t) * norm_start + t * norm_end)


def interpolation_grid(vae, image_start, image_end, num_steps=8, method="linear"):
    """Decode the path between two encoded faces, whose reconstructions are the first and last images.

    Returns:
        float32 `(num_steps, H, W, 3)`.
    """
    z = encode_means(vae, np.stack([image_start, image_end]))
    return decode_latents(vae, interpolate(z[0], z[1], num_steps, method))


def most_active_dims(vae, images, num_dims):
    """Return the indices of the `num_dims` latent dims whose posterior mean varies most over `images`."""
    _, variances = active_units(encode_means(vae, images))
    return [int(i) for i in np.argsort(-variances)[:num_dims]]


def traversal_grid(vae, base_z, dims, values=(-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)):
    """Decode `base_z` with one dimension at a time set to each of `values`.

    Args:
        vae: model with `decode`.
        base_z: `(latent_dim,)` code, e.g. zeros (the prior mean) or an encoded face.
        dims: latent dimensions to traverse, one grid row each.
        values: values the dimension is set to, in prior standard deviations.

    Returns:
        list of float32 arrays `(len(values), H, W, 3)`, one per dim.
    """
    base_z = np.asarray(base_z, dtype=np.float64)
    for dim in dims:
        if not 0 <= dim < base_z.shape[-1]:
            raise ValueError(f"Every dim must be in [0, {base_z.shape[-1]}). Received: dims={list(dims)}")
    codes = []
    for dim in dims:
        row = np.repeat(base_z[None], len(values), axis=0)
        row[:, dim] = values
        codes.append(row)
    decoded = decode_latents(vae, np.concatenate(codes))
    return [decoded[i * len(values) : (i + 1) * len(values)] for i in range(len(dims))]


def read_attribute_csv(path):
    """Read a Cartoon Set attribute file into `{name: (value, num_values)}`.

    Each line is `"attr_name", value, num_values`, e.g. `"eye_color", 2, 5`.

    Raises:
        ValueError: naming the file and line when a line does not have that form.
    """
    path = pathlib.Path(path)
    attributes = {}
    with path.open(newline="", encoding="utf-8") as file:
        for line_number, row in enumerate(csv.reader(file, skipinitialspace=True), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            try:
                name, value, num_values = row
                attributes[name.strip()] = (int(value), int(num_values))
            except ValueError as error:
                raise ValueError(
                    f"Invalid attribute line in {path}, line {line_number}: expected "
                    f'"name", value, num_values with integer value and num_values. Received: {row}'
                ) from error
    if not attributes:
        raise ValueError(f"Attribute file has no attribute lines. Received: path={str(path)!r}")
    return attributes


def attribute_labels(image_paths, attribute_name):
    """Read one attribute for each image from the `.csv` beside it (same stem).

    Images without a csv, or whose csv lacks the attribute, get label -1 and
    are counted in one log line.

    Returns:
        int array `(N,)` of attribute values, -1 where missing.
    """
    labels = np.full(len(image_paths), -1, dtype=np.int64)
    missing = []
    for i, image_path in enumerate(image_paths):
        csv_path = pathlib.Path(image_path).with_suffix(".csv")
        if not csv_path.is_file():
            missing.append(csv_path.name)
            continue
        attributes = read_attribute_csv(csv_path)
        if attribute_name in attributes:
            labels[i] = attributes[attribute_name][0]
        else:
            missing.append(csv_path.name)
    if missing:
        logging.warning(
            "No %r label for %d of %d images (first: %s).", attribute_name, len(missing), len(image_paths), missing[0]
        )
    return labels


def attribute_vectors(z_mean, labels):
    """Compute, for each attribute value v, mean z of images with v minus mean z of the other labelled images.

    Args:
        z_mean: `(N, latent_dim)` posterior means.
        labels: int `(N,)` attribute values, with -1 for an unlabelled image.

    Returns:
        dict `{value: (latent_dim,) vector}` for every value held by at least
        one image while at least one other labelled image has another value.
    """
    z_mean = np.asarray(z_mean, dtype=np.float64)
    labels = np.asarray(labels)
    if len(z_mean) != len(labels):
        raise ValueError(
            f"z_mean and labels must have the same length. Received: {len(z_mean)} codes, {len(labels)} labels"
        )
    labelled = labels >= 0
    vectors = {}
    for value in np.unique(labels[labelled]):
        inside = labels == value
        rest = labelled & ~inside
        if rest.any():
            vectors[int(value)] = z_mean[inside].mean(axis=0) - z_mean[rest].mean(axis=0)
    if not vectors:
        raise ValueError(
            "Attribute vectors need labelled images with at least two different values. "
            f"Received: label values={sorted(set(labels[labelled].tolist()))}"
        )
    return vectors


def attribute_grid(vae, images, vector, strengths=(-2.0, -1.0, 0.0, 1.0, 2.0)):
    """Decode each face's code plus `strength * vector`: one row per image, one column per strength."""
    z = encode_means(vae, images)
    strengths = np.asarray(strengths, dtype=np.float64)
    codes = z[:, None, :] + strengths[None, :, None] * np.asarray(vector)[None, None, :]
    decoded = decode_latents(vae, codes.reshape(-1, z.shape[-1]))
    return [decoded[i * len(strengths) : (i + 1) * len(strengths)] for i in range(len(images))]


def save_latent_figures(vae, images, output_dir, num_steps=8, num_traversal_dims=6, image_paths=None, attribute_name=None):
    """Write interpolation, traversal and (with labels) attribute grids as PNGs in `output_dir`.

    Args:
        vae: model with `encode` and `decode`.
        images: `(N, H, W, 3)` held-out faces, N >= 4. The first two pairs
            are interpolated and all are used to rank active dims.
        output_dir: folder to write into (created if absent).
        num_steps: int. Images per interpolation row. Defaults to 8.
        num_traversal_dims: int. Most active dims to traverse. Defaults to 6.
        image_paths: paths of `images`, needed for attribute vectors.
        attribute_name: str or None. Cartoon Set attribute, e.g. `"hair_color"`.

    Returns:
        dict of figure name -> written path.
    """
    images = np.asarray(images, dtype=np.float32)
    if len(images) < 4:
        raise ValueError(f"save_latent_figures needs at least 4 images. Received: {len(images)} images")
    output_dir = pathlib.Path(output_dir)
    written = {}

    for method in INTERPOLATION_METHODS:
        rows = [interpolation_grid(vae, images[i], images[i + 1], num_steps, method) for i in (0, 2)]
        written[f"interpolation_{method}"] = output_dir / f"interpolation_{method}.png"
        save_image_grid(written[f"interpolation_{method}"], rows)

    dims = most_active_dims(vae, images, min(num_traversal_dims, vae.latent_dim))
    rows = traversal_grid(vae, np.zeros(vae.latent_dim), dims)
    written["traversal"] = output_dir / "traversal.png"
    save_image_grid(written["traversal"], rows)
    logging.info("Traversed latent dims %s (highest posterior-mean variance first).", dims)

    if attribute_name is not None:
        if image_paths is None or len(image_paths) != len(images):
            raise ValueError(
                "attribute_name needs image_paths with one path per image. "
                f"Received: {0 if image_paths is None else len(image_paths)} paths for {len(images)} images"
            )
        labels = attribute_labels(image_paths, attribute_name)
        vectors = attribute_vectors(encode_means(vae, images), labels)
        for value, vector in sorted(vectors.items()):
            name = f"attribute_{attribute_name}_{value}"
            written[name] = output_dir / f"{name}.png"
            save_image_grid(written[name], attribute_grid(vae, images[:4], vector))
    return written
