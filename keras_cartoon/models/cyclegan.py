"""CycleGAN: unpaired image-to-image translation between domains A and B (cartoon <-> anime)."""

import keras
import tensorflow as tf

from keras_cartoon import cyclegan_losses
from keras_cartoon.models.cyclegan_generators import build_generator
from keras_cartoon.models.image_pool import ImagePool
from keras_cartoon.models.patchgan import patchgan_discriminator
from keras_cartoon.training.distribute import metric_results
from keras_cartoon.training.precision import wrap_optimizer


def _average_over_global_batch(per_example_loss):
    # Keras 3 all-reduces gradients with SUM across replicas, so each replica
    # divides by the global batch: per-replica batch * num_replicas_in_sync.
    return tf.nn.compute_average_loss(per_example_loss)


def _scale(optimizer, loss):
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.scale_loss(loss)
    return loss


@keras.saving.register_keras_serializable(package="keras_cartoon")
class CycleGAN(keras.Model):
    """CycleGAN with two generators, two PatchGAN discriminators and history pools.

    `generator_a2b` maps domain A to B and `generator_b2a` maps B to A;
    `discriminator_a` scores images of A, `discriminator_b` images of B. Each
    training step first updates both generators on the adversarial, cycle
    (`|G_b2a(G_a2b(a)) - a|`) and identity (`|G_b2a(a) - a|`) losses, then
    both discriminators on real images and fakes drawn from a history pool.
    Calling the model translates A to B.

    Args:
        image_size: int. Height and width of both domains' images. Defaults to `128`.
        generator: str. `"resnet"` or `"unet"`. Defaults to `"resnet"`.
        num_residual_blocks: int or None. ResNet blocks; None picks 6 below
            256x256 and 9 from 256 up. Defaults to `None`.
        generator_filters: int. First-layer filters of the generators. Defaults to `64`.
        discriminator_filters: int. First-layer filters of the discriminators. Defaults to `64`.
        discriminator_downsampling: int. Stride-2 layers of the PatchGAN;
            3 gives 70x70 patches. Defaults to `3`.
        gan_loss: str. `"lsgan"`, `"vanilla"` or `"hinge"`. Defaults to `"lsgan"`.
        cycle_weight: float. Weight of each direction's cycle L1 loss. Defaults to `10.0`.
        identity_weight: float. Identity loss weight as a fraction of
            `cycle_weight` (0.5 gives 5.0); 0 skips the identity pass. Defaults to `0.5`.
        pool_size: int. Fakes kept per discriminator; 0 turns the pool off. Defaults to `50`.
        seed: int. Seed of the pools' random choices. Defaults to `0`.

    Example:
        model = CycleGAN(image_size=32, generator_filters=8, discriminator_filters=8,
                         num_residual_blocks=2)
        model.compile()  # Adam(2e-4, beta_1=0.5) for each pair
        model.fit(tf.data.Dataset.zip((images_a, images_b)), epochs=1)

    References:
        Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent
        Adversarial Networks", ICCV 2017.
    """

    def __init__(
        self,
        image_size=128,
        generator="resnet",
        num_residual_blocks=None,
        generator_filters=64,
        discriminator_filters=64,
        discriminator_downsampling=3,
        gan_loss="lsgan",
        cycle_weight=10.0,
        identity_weight=0.5,
        pool_size=50,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        cyclegan_losses.check_gan_loss(gan_loss)
        if cycle_weight < 0 or identity_weight < 0:
            raise ValueError(
                "`cycle_weight` and `identity_weight` must be >= 0. "
                f"Received: cycle_weight={cycle_weight}, identity_weight={identity_weight}"
            )

        # === Sub-models ===
        generator_kwargs = dict(
            generator=generator,
            image_size=image_size,
            filters=generator_filters,
            num_residual_blocks=num_residual_blocks,
        )
        self.generator_a2b = build_generator(**generator_kwargs, name="generator_a2b")
        self.generator_b2a = build_generator(**generator_kwargs, name="generator_b2a")
        self.discriminator_a = patchgan_discriminator(
            image_size, discriminator_filters, discriminator_downsampling, name="discriminator_a"
        )
        self.discriminator_b = patchgan_discriminator(
            image_size, discriminator_filters, discriminator_downsampling, name="discriminator_b"
        )

        # === History pools (in training checkpoints, not in .keras files) ===
        image_shape = (image_size, image_size, 3)
        self._pool_a = ImagePool(pool_size, image_shape, seed=seed)
        self._pool_b = ImagePool(pool_size, image_shape, seed=seed + 1)

        # === Loss trackers ===
        tracker_names = (
            "total_generator_loss",
            "generator_a2b_loss",
            "generator_b2a_loss",
            "cycle_loss",
            "identity_loss",
            "discriminator_a_loss",
            "discriminator_b_loss",
        )
        self.trackers = {name: keras.metrics.Mean(name=name) for name in tracker_names}

        # === Config ===
        self.image_size = image_size
        self.generator = generator
        self.num_residual_blocks = num_residual_blocks
        self.generator_filters = generator_filters
        self.discriminator_filters = discriminator_filters
        self.discriminator_downsampling = discriminator_downsampling
        self.gan_loss = gan_loss
        self.cycle_weight = cycle_weight
        self.identity_weight = identity_weight
        self.pool_size = pool_size
        self.seed = seed
        # Every sub-model is built from image_size above.
        self.built = True

    def compile(self, generator_optimizer=None, discriminator_optimizer=None, **kwargs):
        """Set one optimizer for both generators and one for both discriminators.

        One Adam per pair, as the CycleGAN reference implementation does. The
        two generators share one objective because their cycle losses couple
        them. Each discriminator's loss touches only its own weights, so a
        shared Adam gives the same updates as two separate ones. Defaults are
        `Adam(2e-4, beta_1=0.5)`. Under the `mixed_float16` policy each
        optimizer is wrapped in `keras.optimizers.LossScaleOptimizer`.
        """
        super().compile(**kwargs)
        if generator_optimizer is None:
            generator_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)
        if discriminator_optimizer is None:
            discriminator_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.generator_optimizer = wrap_optimizer(generator_optimizer)
        self.discriminator_optimizer = wrap_optimizer(discriminator_optimizer)
        # Build the slots now, inside any strategy scope, not in the first traced step.
        self.generator_optimizer.build(self._generator_variables())
        self.discriminator_optimizer.build(self._discriminator_variables())

    def history_pool_variables(self):
        """Return `{name: variable}` of both history pools' state, for training checkpoints."""
        variables = {}
        for name, pool in (("pool_a", self._pool_a), ("pool_b", self._pool_b)):
            if pool.pool_size:
                variables.update({f"{name}_buffer": pool.buffer, f"{name}_count": pool.count, f"{name}_calls": pool.calls})
        return variables

    def get_compile_config(self):
        # The custom compile() arguments are optimizers the trainer rebuilds
        # from flags, so a loaded model is returned uncompiled.
        return None

    def _generator_variables(self):
        return self.generator_a2b.trainable_variables + self.generator_b2a.trainable_variables

    def _discriminator_variables(self):
        return self.discriminator_a.trainable_variables + self.discriminator_b.trainable_variables

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        return self.generator_a2b(inputs, training=training)

    def train_step(self, data):
        real_a, real_b = data
        identity_weight = self.cycle_weight * self.identity_weight

        # Generators: adversarial + cycle + identity losses, one tape for both.
        with tf.GradientTape() as tape:
            fake_b = self.generator_a2b(real_a, training=True)
            cycled_a = self.generator_b2a(fake_b, training=True)
            fake_a = self.generator_b2a(real_b, training=True)
            cycled_b = self.generator_a2b(fake_a, training=True)

            generator_a2b_loss = cyclegan_losses.generator_adversarial_loss(
                self.discriminator_b(fake_b, training=True), self.gan_loss
            )
            generator_b2a_loss = cyclegan_losses.generator_adversarial_loss(
                self.discriminator_a(fake_a, training=True), self.gan_loss
            )
            cycle_loss = cyclegan_losses.l1_loss(real_a, cycled_a) + cyclegan_losses.l1_loss(real_b, cycled_b)
            if identity_weight > 0:
                same_a = self.generator_b2a(real_a, training=True)
                same_b = self.generator_a2b(real_b, training=True)
                identity_loss = cyclegan_losses.l1_loss(real_a, same_a) + cyclegan_losses.l1_loss(real_b, same_b)
            else:
                identity_loss = tf.zeros_like(cycle_loss)

            total_generator_loss = _average_over_global_batch(
                generator_a2b_loss
                + generator_b2a_loss
                + self.cycle_weight * cycle_loss
                + identity_weight * identity_loss
            )
            scaled_loss = _scale(self.generator_optimizer, total_generator_loss)

        generator_variables = self._generator_variables()
        gradients = tape.gradient(scaled_loss, generator_variables)
        self.generator_optimizer.apply(gradients, generator_variables)

        # Discriminators: real images against fakes from the history pools.
        pooled_fake_a = tf.stop_gradient(self._pool_a.query(fake_a))
        pooled_fake_b = tf.stop_gradient(self._pool_b.query(fake_b))
        with tf.GradientTape() as tape:
            discriminator_a_loss = cyclegan_losses.discriminator_loss(
                self.discriminator_a(real_a, training=True),
                self.discriminator_a(pooled_fake_a, training=True),
                self.gan_loss,
            )
            discriminator_b_loss = cyclegan_losses.discriminator_loss(
                self.discriminator_b(real_b, training=True),
                self.discriminator_b(pooled_fake_b, training=True),
                self.gan_loss,
            )
            discriminator_loss = _average_over_global_batch(discriminator_a_loss + discriminator_b_loss)
            scaled_loss = _scale(self.discriminator_optimizer, discriminator_loss)

        discriminator_variables = self._discriminator_variables()
        gradients = tape.gradient(scaled_loss, discriminator_variables)
        self.discriminator_optimizer.apply(gradients, discriminator_variables)

        # Trackers get per-replica means; Keras averages them across replicas.
        values = {
            "total_generator_loss": total_generator_loss * tf.cast(
                tf.distribute.get_replica_context().num_replicas_in_sync, "float32"
            ),
            "generator_a2b_loss": generator_a2b_loss,
            "generator_b2a_loss": generator_b2a_loss,
            "cycle_loss": cycle_loss,
            "identity_loss": identity_loss,
            "discriminator_a_loss": discriminator_a_loss,
            "discriminator_b_loss": discriminator_b_loss,
        }
        for name, value in values.items():
            self.trackers[name].update_state(tf.reduce_mean(value))
        return metric_results(self.metrics)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "generator": self.generator,
                "num_residual_blocks": self.num_residual_blocks,
                "generator_filters": self.generator_filters,
                "discriminator_filters": self.discriminator_filters,
                "discriminator_downsampling": self.discriminator_downsampling,
                "gan_loss": self.gan_loss,
                "cycle_weight": self.cycle_weight,
                "identity_weight": self.identity_weight,
                "pool_size": self.pool_size,
                "seed": self.seed,
            }
        )
        return config
