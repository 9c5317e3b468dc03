"""`CartoonVAE`: a convolutional variational autoencoder for cartoon faces."""

import keras
import tensorflow as tf
from keras import ops

from keras_cartoon import losses
from keras_cartoon.config import DataConfig, VAEConfig
from keras_cartoon.kl_schedules import kl_weight_at, validate_kl_schedule
from keras_cartoon.models.layers import FusedBatchNormalization, ResidualBlock, Sampling, SoftClip
from keras_cartoon.models.vae_presets import get_preset
from keras_cartoon.training.distribute import metric_results

# Four stride-2 stages each way, so the image side is 16x the 2-D latent grid side.
NUM_DOWNSAMPLINGS = 4
# Moving-statistics momentum of every BatchNormalization layer. With the Keras
# default of 0.99 the averages still lag after a short run, so inference output
# is grey. 0.9 matches PyTorch's default. Measured after 3 epochs (batch 32) on
# the 630 Cartoon Set faces: validation loss 16.2k with 0.99, 5.6k with 0.9.
BATCH_NORM_MOMENTUM = 0.9


def build_encoder(image_size, filters, num_residual_blocks, latent_dim, seed=None):
    """Build the encoder: image `(S, S, 3)` -> `[z_mean, z_log_var, z]`, each `(latent_dim,)` float32."""
    images = keras.Input((image_size, image_size, 3), name="encoder_input")
    x = images
    for stage, stage_filters in enumerate(filters, start=1):
        # Bias is redundant before BatchNormalization, which adds its own offset.
        x = keras.layers.Conv2D(
            stage_filters, 4, strides=2, padding="same", use_bias=False, name=f"encoder_conv_{stage}"
        )(x)
        x = FusedBatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"encoder_bn_{stage}")(x)
        x = keras.layers.ReLU(name=f"encoder_relu_{stage}")(x)
        for block in range(1, num_residual_blocks + 1):
            x = ResidualBlock(stage_filters, name=f"encoder_residual_{stage}_{block}")(x)
    x = keras.layers.Flatten(name="encoder_flatten")(x)

    # float32 under mixed precision: exp(z_log_var) and the KL overflow in float16.
    z_mean = keras.layers.Dense(latent_dim, dtype="float32", name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, dtype="float32", name="z_log_var_dense")(x)
    z_log_var = SoftClip(dtype="float32", name="z_log_var")(z_log_var)
    z = Sampling(seed=seed, dtype="float32", name="z")([z_mean, z_log_var])
    return keras.Model(images, [z_mean, z_log_var, z], name="encoder")


def build_decoder(image_size, filters, num_residual_blocks, latent_dim):
    """Build the decoder: `(latent_dim,)` -> image `(S, S, 3)` in [-1, 1], float32."""
    grid_size = image_size // 2**NUM_DOWNSAMPLINGS
    latent = keras.Input((latent_dim,), name="decoder_input")
    x = keras.layers.Dense(grid_size * grid_size * filters[0], use_bias=False, name="decoder_dense")(latent)
    x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name="decoder_dense_bn")(x)
    x = keras.layers.ReLU(name="decoder_dense_relu")(x)
    x = keras.layers.Reshape((grid_size, grid_size, filters[0]), name="decoder_reshape")(x)
    for block in range(1, num_residual_blocks + 1):
        x = ResidualBlock(filters[0], name=f"decoder_residual_0_{block}")(x)

    for stage, stage_filters in enumerate(filters[1:], start=1):
        x = keras.layers.Conv2DTranspose(
            stage_filters, 4, strides=2, padding="same", use_bias=False, name=f"decoder_deconv_{stage}"
        )(x)
        x = FusedBatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"decoder_bn_{stage}")(x)
        x = keras.layers.ReLU(name=f"decoder_relu_{stage}")(x)
        for block in range(1, num_residual_blocks + 1):
            x = ResidualBlock(stage_filters, name=f"decoder_residual_{stage}_{block}")(x)

    x = keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", name="decoder_output_deconv")(x)
    # A float32 tanh keeps the output and the reconstruction loss in float32.
    images = keras.layers.Activation("tanh", dtype="float32", name="decoder_output")(x)
    return keras.Model(latent, images, name="decoder")


def _validate_filters(name, filters):
    if len(filters) != NUM_DOWNSAMPLINGS or any(int(f) != f or f < 1 for f in filters):
        raise ValueError(
            f"`{name}` must list {NUM_DOWNSAMPLINGS} positive integers, one per stride-2 stage. "
            f"Received: {name}={filters}"
        )
    return [int(f) for f in filters]


@keras.saving.register_keras_serializable(package="keras_cartoon")
class CartoonVAE(keras.Model):
    """Convolutional VAE on `(S, S, 3)` images in [-1, 1] (Kingma and Welling, 2014).

    The encoder maps an image to a diagonal Gaussian posterior and the decoder
    maps a latent vector back to an image through a float32 tanh. `fit` trains
    on batches of images (a `(images, anything)` tuple is also accepted) and
    reports `loss`, `reconstruction_loss`, `kl_loss` (mean nats per image) and
    `kl_weight` (beta at this step).

    Args:
        image_size: int. Side of the square input; a multiple of 16.
            Defaults to `128`.
        preset: str. Architecture from `VAE_PRESETS`: `"baseline"`, `"wide"`
            or `"resnet"`. Defaults to `"baseline"`.
        encoder_filters: list of 4 ints or `None`. Overrides the preset's
            encoder channels. Defaults to `None`.
        decoder_filters: list of 4 ints or `None`. Overrides the preset's
            decoder channels (reshape, then three transposed convolutions).
            Defaults to `None`.
        latent_dim: int. Size of `z`. Defaults to `48`.
        kl_weight: float. Beta, the weight of the KL term. Defaults to `1.0`.
        kl_schedule: str. `"constant"`, `"linear"` or `"cyclical"`; see
            `keras_cartoon.kl_schedules`. Defaults to `"constant"`.
        kl_warmup_steps: int. Steps of each linear rise of beta. Defaults to `1000`.
        free_bits: float. KL floor in nats per latent dimension, averaged over
            the batch; 0 turns it off. Defaults to `0.0`.
        reconstruction_loss: str. `"mse"`, `"l1"` or `"bernoulli"`; see
            `keras_cartoon.losses`. Defaults to `"mse"`.
        seed: int or `None`. Seed of the posterior sampling noise. Weight
            initialisation follows `keras.utils.set_random_seed`. Defaults to `None`.

    Example:
        vae = CartoonVAE(image_size=32, encoder_filters=[8, 8, 8, 8], decoder_filters=[8, 8, 8, 8])
        vae.compile(optimizer=keras.optimizers.Adam(1e-3))
        vae.fit(image_dataset, epochs=1)
        faces = vae.sample(16, seed=0)
    """

    def __init__(
        self,
        image_size=DataConfig.image_size,
        preset=VAEConfig.preset,
        encoder_filters=None,
        decoder_filters=None,
        latent_dim=VAEConfig.latent_dim,
        kl_weight=VAEConfig.kl_weight,
        kl_schedule=VAEConfig.kl_schedule,
        kl_warmup_steps=VAEConfig.kl_warmup_steps,
        free_bits=VAEConfig.free_bits,
        reconstruction_loss=VAEConfig.reconstruction_loss,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(image_size) != image_size or image_size < 16 or image_size % 2**NUM_DOWNSAMPLINGS:
            raise ValueError(
                "`image_size` must be a positive multiple of 16 (the VAE halves it 4 times). "
                f"Received: image_size={image_size}"
            )
        if int(latent_dim) != latent_dim or latent_dim < 1:
            raise ValueError(f"`latent_dim` must be a positive integer. Received: latent_dim={latent_dim}")
        if not free_bits >= 0:
            raise ValueError(f"`free_bits` must be >= 0. Received: free_bits={free_bits}")
        if reconstruction_loss not in losses.RECONSTRUCTION_LOSSES:
            raise ValueError(
                f"`reconstruction_loss` must be one of {list(losses.RECONSTRUCTION_LOSSES)}. "
                f"Received: reconstruction_loss={reconstruction_loss!r}"
            )
        validate_kl_schedule(kl_weight, kl_schedule, kl_warmup_steps)
        architecture = get_preset(preset)

        # === Config ===
        self.image_size = int(image_size)
        self.preset = preset
        self.encoder_filters = None if encoder_filters is None else _validate_filters("encoder_filters", encoder_filters)
        self.decoder_filters = None if decoder_filters is None else _validate_filters("decoder_filters", decoder_filters)
        self.latent_dim = int(latent_dim)
        self.kl_weight = float(kl_weight)
        self.kl_schedule = kl_schedule
        self.kl_warmup_steps = int(kl_warmup_steps)
        self.free_bits = float(free_bits)
        self.reconstruction_loss = reconstruction_loss
        self.seed = seed

        # === Sub-models ===
        self.encoder = build_encoder(
            self.image_size,
            self.encoder_filters or architecture["encoder_filters"],
            architecture["num_residual_blocks"],
            self.latent_dim,
            seed=seed,
        )
        self.decoder = build_decoder(
            self.image_size,
            self.decoder_filters or architecture["decoder_filters"],
            architecture["num_residual_blocks"],
            self.latent_dim,
        )

        # === Metric trackers ===
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        self.kl_weight_tracker = keras.metrics.Mean(name="kl_weight")

        # The sub-models are built, so the optimizer can be built (and its
        # state restored) when a compiled `.keras` file is loaded.
        self.built = True

    @property
    def metrics(self):
        # Listed here so Keras resets them at the start of every epoch.
        return [
            self.loss_tracker,
            self.reconstruction_loss_tracker,
            self.kl_loss_tracker,
            self.kl_weight_tracker,
        ]

    def call(self, inputs, training=False):
        """Reconstruct `inputs`: from a sampled `z` in training, from `z_mean` otherwise."""
        z_mean, _, z = self.encoder(inputs, training=training)
        return self.decoder(z if training else z_mean, training=training)

    def train_step(self, data):
        real_images = data[0] if isinstance(data, (tuple, list)) else data

        # Forward pass and losses. Under mixed_float16 the optimizer scales the loss.
        with tf.GradientTape() as tape:
            step_losses = self._compute_losses(real_images, training=True)
            scaled_loss = self.optimizer.scale_loss(step_losses["replica_loss"])

        # `optimizer.apply` unscales the gradients and sums them over replicas.
        trainable_variables = self.trainable_variables
        gradients = tape.gradient(scaled_loss, trainable_variables)

        self.optimizer.apply(gradients, trainable_variables)

        return self._update_trackers(step_losses)

    def test_step(self, data):
        real_images = data[0] if isinstance(data, (tuple, list)) else data

        step_losses = self._compute_losses(real_images, training=False)

        return self._update_trackers(step_losses)

    def _compute_losses(self, real_images, training):
        """Return the per-replica objective and the per-image means for the trackers."""
        z_mean, z_log_var, z = self.encoder(real_images, training=training)
        reconstructed_images = self.decoder(z, training=training)

        reconstruction_loss = losses.reconstruction_loss(real_images, reconstructed_images, self.reconstruction_loss)
        kl_loss = losses.kl_divergence(z_mean, z_log_var)
        step = self.optimizer.iterations if self.optimizer is not None else 0
        kl_weight = kl_weight_at(step, self.kl_weight, self.kl_schedule, self.kl_warmup_steps)

        # Keras sums gradients over replicas, so each replica's loss is divided
        # by the global batch size (compute_average_loss) or the replica count.
        num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if self.free_bits > 0:
            # NOTE: with several replicas the floor applies to each replica's batch
            # mean, not the global one, so the penalty can differ slightly from one device.
            kl_penalty = losses.free_bits_kl(z_mean, z_log_var, self.free_bits)
            replica_loss = tf.nn.compute_average_loss(reconstruction_loss) + kl_weight * kl_penalty / num_replicas
        else:
            kl_penalty = ops.mean(kl_loss)
            replica_loss = tf.nn.compute_average_loss(reconstruction_loss + kl_weight * kl_loss)

        return {
            "replica_loss": replica_loss,
            "loss": ops.mean(reconstruction_loss) + kl_weight * kl_penalty,
            "reconstruction_loss": ops.mean(reconstruction_loss),
            "kl_loss": ops.mean(kl_loss),
            "kl_weight": kl_weight,
        }

    def _update_trackers(self, step_losses):
        self.loss_tracker.update_state(step_losses["loss"])
        self.reconstruction_loss_tracker.update_state(step_losses["reconstruction_loss"])
        self.kl_loss_tracker.update_state(step_losses["kl_loss"])
        self.kl_weight_tracker.update_state(step_losses["kl_weight"])
        return metric_results(self.metrics)

    def encode(self, images):
        """Return the posterior `(z_mean, z_log_var)` of `images`, each `(B, latent_dim)`."""
        z_mean, z_log_var, _ = self.encoder(images, training=False)
        return z_mean, z_log_var

    def decode(self, z):
        """Decode latent vectors `(B, latent_dim)` to images `(B, S, S, 3)` in [-1, 1]."""
        return self.decoder(z, training=False)

    def sample(self, num_images, seed=None):
        """Decode `num_images` draws of `z ~ N(0, I)`. The same int `seed` gives the same images."""
        z = keras.random.normal((num_images, self.latent_dim), seed=seed)
        return self.decode(z)

    def reconstruct(self, images):
        """Decode the posterior mean of `images`, so the result is deterministic."""
        z_mean, _ = self.encode(images)
        return self.decode(z_mean)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "preset": self.preset,
                "encoder_filters": self.encoder_filters,
                "decoder_filters": self.decoder_filters,
                "latent_dim": self.latent_dim,
                "kl_weight": self.kl_weight,
                "kl_schedule": self.kl_schedule,
                "kl_warmup_steps": self.kl_warmup_steps,
                "free_bits": self.free_bits,
                "reconstruction_loss": self.reconstruction_loss,
                "seed": self.seed,
            }
        )
        return config
