"""History pool of generated images for discriminator updates, usable inside `tf.function`."""

import tensorflow as tf


class ImagePool:
    """Buffer of past generator outputs that the discriminators also train on.

    Showing a discriminator a mix of current and older fakes damps the
    oscillation between generator and discriminator (Shrivastava et al., 2017;
    CycleGAN uses a pool of 50). Contract of `query(images)`, per image:

    - While the pool contains fewer than `pool_size` images, the image is stored
      and returned unchanged.
    - Once full, with probability 0.5 a random stored image is returned and
      the new image takes its slot. Otherwise the new image is returned and
      the pool is unchanged.

    The state lives in `tf.Variable`s (buffer, fill counter, call counter), so
    `query` works eagerly and inside a traced `train_step`. The variables are
    `ON_READ` synchronized, so under a `tf.distribute` strategy each replica
    keeps its own pool. Randomness is stateless, from `(seed, call counter,
    replica id)`, so a fixed seed gives a fixed sequence of choices.

    NOTE: all images of one batch are decided in parallel. When two images of
    a batch draw the same slot, only one of them is stored. A swap never
    returns an image stored by the same batch, whereas the reference
    implementation loops image by image. Image `i` of a batch that arrives while the pool
    fills takes slot `count + i`.

    Args:
        pool_size: int. Images kept; 0 turns the pool off (`query` returns its
            input). Defaults to `50`.
        image_shape: tuple `(H, W, C)` of the stored images.
        seed: int. Seed of the random choices. Defaults to `0`.
    """

    def __init__(self, pool_size=50, image_shape=(128, 128, 3), seed=0):
        if pool_size < 0:
            raise ValueError(f"`pool_size` must be >= 0. Received: pool_size={pool_size}")
        self.pool_size = int(pool_size)
        self.image_shape = tuple(int(d) for d in image_shape)
        self.seed = int(seed)
        if self.pool_size == 0:
            return
        local = dict(
            trainable=False,
            synchronization=tf.VariableSynchronization.ON_READ,
            aggregation=tf.VariableAggregation.NONE,
        )
        self.buffer = tf.Variable(tf.zeros((self.pool_size,) + self.image_shape), name="pool_buffer", **local)
        self.count = tf.Variable(0, dtype=tf.int32, name="pool_count", **local)
        self.calls = tf.Variable(0, dtype=tf.int32, name="pool_calls", **local)

    def query(self, images):
        """Return a batch of the same shape mixing `images` and stored images (contract above)."""
        if self.pool_size == 0:
            return images
        images = tf.cast(images, self.buffer.dtype)
        batch_size = tf.shape(images)[0]

        replica_context = tf.distribute.get_replica_context()
        replica_id = 0 if replica_context is None else replica_context.replica_id_in_sync_group
        seed = tf.stack([tf.constant(self.seed, tf.int32), self.calls.read_value() * 1024 + replica_id])
        self.calls.assign_add(1)
        coins = tf.random.stateless_uniform((batch_size,), seed=seed)
        uniforms = tf.random.stateless_uniform((batch_size,), seed=seed + 1)

        # While filling, image i goes to the next free slot and is returned as is.
        count = self.count.read_value()
        fill_slots = count + tf.range(batch_size, dtype=tf.int32)
        filling = fill_slots < self.pool_size
        swapping = tf.logical_and(tf.logical_not(filling), coins < 0.5)
        # Swaps draw only from slots filled before this batch, never from the
        # empty ones this batch is filling.
        swapping = tf.logical_and(swapping, count > 0)
        slots = tf.minimum(tf.cast(uniforms * tf.cast(count, tf.float32), tf.int32), tf.maximum(count - 1, 0))

        buffer = self.buffer.read_value()
        stored = tf.gather(buffer, tf.where(swapping, slots, 0))
        outputs = tf.where(swapping[:, None, None, None], stored, images)

        # ON_READ (per-replica) variables have no scatter update, so the
        # updated buffer is built as a tensor and assigned whole.
        write = tf.logical_or(filling, swapping)
        write_slots = tf.where(filling, fill_slots, slots)
        buffer = tf.tensor_scatter_nd_update(
            buffer, tf.boolean_mask(write_slots, write)[:, None], tf.boolean_mask(images, write)
        )
        self.buffer.assign(buffer)
        self.count.assign(tf.minimum(count + batch_size, self.pool_size))
        return outputs
