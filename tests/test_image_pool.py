"""History pool contract: fill first, then swap about half the time, eagerly and in tf.function."""

import numpy as np
import pytest
import tensorflow as tf

from keras_cartoon.models.image_pool import ImagePool

SHAPE = (4, 4, 3)


def _image(value):
    return np.full((1,) + SHAPE, value, dtype=np.float32)


def _ids(images):
    # Every test image is constant, so its first pixel identifies it.
    return np.asarray(images)[:, 0, 0, 0].tolist()


def _run_contract(query, pool):
    # Fill: the first pool_size images come back unchanged and are stored.
    for value in range(pool.pool_size):
        assert _ids(query(tf.constant(_image(value)))) == [value]
    assert int(pool.count.numpy()) == pool.pool_size
    assert sorted(_ids(pool.buffer.numpy())) == list(range(pool.pool_size))

    # Full: each query returns either the new image or one stored earlier.
    seen = set(range(pool.pool_size))
    swaps = 0
    num_queries = 200
    for value in range(100, 100 + num_queries):
        (returned,) = _ids(query(tf.constant(_image(value))))
        if returned != value:
            assert returned in seen, f"query returned {returned}, never stored"
            swaps += 1
        seen.add(value)
    return swaps / num_queries


def test_pool_fills_then_swaps_half_eager():
    pool = ImagePool(pool_size=5, image_shape=SHAPE, seed=3)
    swap_fraction = _run_contract(pool.query, pool)
    assert 0.38 < swap_fraction < 0.62


def test_pool_same_sequence_in_tf_function():
    eager_pool = ImagePool(pool_size=5, image_shape=SHAPE, seed=3)
    graph_pool = ImagePool(pool_size=5, image_shape=SHAPE, seed=3)
    traced_query = tf.function(graph_pool.query)

    assert _run_contract(traced_query, graph_pool) == _run_contract(eager_pool.query, eager_pool)
    np.testing.assert_array_equal(graph_pool.buffer.numpy(), eager_pool.buffer.numpy())


def test_pool_batch_partially_fills():
    pool = ImagePool(pool_size=3, image_shape=SHAPE, seed=0)
    batch = np.concatenate([_image(v) for v in (1, 2)])
    assert _ids(pool.query(batch)) == [1, 2]
    assert int(pool.count.numpy()) == 2

    # One free slot, which image 3 fills. Image 4 comes back or swaps with 1 or
    # 2, never with the slot that image 3 fills in the same batch.
    for values in [(3, 4)] + [(v, v + 1) for v in range(10, 60, 2)]:
        returned = _ids(pool.query(np.concatenate([_image(v) for v in values])))
        assert 0 not in returned, "a swap returned an empty slot"
    assert int(pool.count.numpy()) == 3
    assert 0 not in _ids(pool.buffer.numpy())


def test_pool_size_zero_passes_through():
    pool = ImagePool(pool_size=0, image_shape=SHAPE)
    images = np.concatenate([_image(7), _image(8)])
    np.testing.assert_array_equal(pool.query(images), images)


def test_pool_rejects_negative_size():
    with pytest.raises(ValueError, match="pool_size"):
        ImagePool(pool_size=-1, image_shape=SHAPE)
