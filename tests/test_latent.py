"""Interpolation, traversal, attribute vectors and latent figures with a tiny real CartoonVAE."""

import keras
import numpy as np
import pytest
from PIL import Image

from keras_cartoon import latent
from keras_cartoon.models import CartoonVAE

LATENT_DIM = 6


@pytest.fixture
def vae():
    return CartoonVAE(image_size=32, encoder_filters=[8] * 4, decoder_filters=[8] * 4, latent_dim=LATENT_DIM, seed=0)


@pytest.fixture
def images():
    return np.random.default_rng(0).uniform(-1, 1, size=(6, 32, 32, 3)).astype(np.float32)


def write_attribute_csv(path, hair_color):
    path.write_text(f'"eye_angle", 1, 3\n"hair_color", {hair_color}, 10\n"glasses", 11, 12\n', encoding="utf-8")


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolation_endpoints_equal_reconstructions(vae, images, method):
    grid = latent.interpolation_grid(vae, images[0], images[1], num_steps=5, method=method)
    reconstructions = keras.ops.convert_to_numpy(vae.reconstruct(images[:2]))
    assert grid.shape == (5, 32, 32, 3)
    np.testing.assert_allclose(grid[0], reconstructions[0], atol=1e-5)
    np.testing.assert_allclose(grid[-1], reconstructions[1], atol=1e-5)


def test_linear_interpolation_midpoint_is_the_mean():
    path = latent.interpolate(np.array([0.0, 2.0]), np.array([4.0, 0.0]), num_steps=3)
    np.testing.assert_allclose(path[1], [2.0, 1.0])


def test_spherical_interpolation_keeps_the_norm_on_the_arc():
    # Orthogonal unit vectors: the slerp midpoint is (1, 1) / sqrt(2) with norm 1, where lerp gives 0.707.
    path = latent.interpolate(np.array([1.0, 0.0]), np.array([0.0, 1.0]), num_steps=3, method="spherical")
    np.testing.assert_allclose(path[1], [2**-0.5, 2**-0.5])
    np.testing.assert_allclose(path[[0, -1]], [[1.0, 0.0], [0.0, 1.0]], atol=1e-12)


def test_spherical_interpolation_of_parallel_codes_is_linear():
    path = latent.interpolate(np.array([1.0, 1.0]), np.array([2.0, 2.0]), num_steps=3, method="spherical")
    np.testing.assert_allclose(path[1], [1.5, 1.5])


def test_interpolate_rejects_one_step():
    with pytest.raises(ValueError, match="num_steps"):
        latent.interpolate(np.zeros(2), np.ones(2), num_steps=1)


def test_traversal_rows_decode_the_edited_code(vae):
    values = (-2.0, 0.0, 2.0)
    rows = latent.traversal_grid(vae, np.zeros(LATENT_DIM), dims=[4, 1], values=values)
    assert len(rows) == 2
    assert rows[0].shape == (3, 32, 32, 3)
    expected_code = np.zeros((1, LATENT_DIM), dtype=np.float32)
    expected_code[0, 4] = 2.0
    expected = keras.ops.convert_to_numpy(vae.decode(expected_code))[0]
    np.testing.assert_allclose(rows[0][2], expected, atol=1e-5)


def test_traversal_rejects_out_of_range_dim(vae):
    with pytest.raises(ValueError, match="dims"):
        latent.traversal_grid(vae, np.zeros(LATENT_DIM), dims=[LATENT_DIM])


def test_most_active_dims_ranks_by_variance(vae, images):
    dims = latent.most_active_dims(vae, images, num_dims=3)
    _, variances = latent.active_units(latent.encode_means(vae, images))
    assert len(dims) == 3
    assert variances[dims[0]] == variances.max()
    assert variances[dims[0]] >= variances[dims[1]] >= variances[dims[2]]


def test_read_attribute_csv_parses_cartoon_set_lines(tmp_path):
    path = tmp_path / "cs1.csv"
    write_attribute_csv(path, hair_color=7)
    assert latent.read_attribute_csv(path) == {"eye_angle": (1, 3), "hair_color": (7, 10), "glasses": (11, 12)}


def test_read_attribute_csv_names_file_and_line(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text('"eye_angle", 1, 3\n"hair_color", red\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.csv, line 2"):
        latent.read_attribute_csv(path)


def test_attribute_vectors_match_hand_means():
    z_mean = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [9.0, 9.0]])
    labels = np.array([0, 0, 1, -1])
    vectors = latent.attribute_vectors(z_mean, labels)
    np.testing.assert_allclose(vectors[0], [2.0, -2.0])
    np.testing.assert_allclose(vectors[1], [-2.0, 2.0])


def test_attribute_vectors_need_two_values():
    with pytest.raises(ValueError, match="at least two different values"):
        latent.attribute_vectors(np.zeros((3, 2)), np.array([1, 1, -1]))


def test_attribute_labels_skip_images_without_csv(tmp_path):
    paths = [tmp_path / f"cs{i}.png" for i in range(3)]
    write_attribute_csv(tmp_path / "cs0.csv", hair_color=2)
    write_attribute_csv(tmp_path / "cs2.csv", hair_color=5)
    np.testing.assert_array_equal(latent.attribute_labels(paths, "hair_color"), [2, -1, 5])


def test_save_latent_figures_writes_every_grid(vae, images, tmp_path):
    paths = [tmp_path / "faces" / f"cs{i}.png" for i in range(len(images))]
    paths[0].parent.mkdir()
    for i, path in enumerate(paths):
        write_attribute_csv(path.with_suffix(".csv"), hair_color=i % 2)

    written = latent.save_latent_figures(
        vae, images, tmp_path / "figures", num_steps=4, num_traversal_dims=3, image_paths=paths, attribute_name="hair_color"
    )

    assert sorted(written) == [
        "attribute_hair_color_0",
        "attribute_hair_color_1",
        "interpolation_linear",
        "interpolation_spherical",
        "traversal",
    ]
    # Tiles are 32 pixels with 2-pixel padding: 2 rows x 4 columns of interpolation, 3 x 7 of traversal.
    assert Image.open(written["interpolation_linear"]).size == (4 * 34 + 2, 2 * 34 + 2)
    assert Image.open(written["traversal"]).size == (7 * 34 + 2, 3 * 34 + 2)
    assert Image.open(written["attribute_hair_color_1"]).size == (5 * 34 + 2, 4 * 34 + 2)
