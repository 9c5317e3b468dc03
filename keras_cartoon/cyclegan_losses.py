"""CycleGAN losses, each returned per example (shape `(batch,)`) so callers average over the global batch."""

from keras import ops

GAN_LOSSES = ("lsgan", "vanilla", "hinge")


def _per_example_mean(x):
    x = ops.cast(x, "float32")
    return ops.mean(ops.reshape(x, (ops.shape(x)[0], -1)), axis=1)


def check_gan_loss(gan_loss):
    if gan_loss not in GAN_LOSSES:
        raise ValueError(f"`gan_loss` must be one of {GAN_LOSSES}. Received: gan_loss={gan_loss!r}")


def generator_adversarial_loss(fake_logits, gan_loss="lsgan"):
    """Loss of a generator whose fakes got `fake_logits` from the discriminator.

    - `"lsgan"`: mean of `(D(fake) - 1)^2` (least squares GAN, Mao et al., 2017).
    - `"vanilla"`: binary cross-entropy towards "real" on the logits.
    - `"hinge"`: `-D(fake)`.
    """
    check_gan_loss(gan_loss)
    fake_logits = ops.cast(fake_logits, "float32")
    if gan_loss == "lsgan":
        return _per_example_mean(ops.square(fake_logits - 1.0))
    if gan_loss == "vanilla":
        # -log(sigmoid(x)) = softplus(-x), stable for large |x|.
        return _per_example_mean(ops.softplus(-fake_logits))
    return _per_example_mean(-fake_logits)


def discriminator_loss(real_logits, fake_logits, gan_loss="lsgan"):
    """Discriminator loss on real and fake patch logits.

    Halved, as in the CycleGAN reference implementation, so the discriminator
    learns at about half the generator's rate.
    """
    check_gan_loss(gan_loss)
    real_logits = ops.cast(real_logits, "float32")
    fake_logits = ops.cast(fake_logits, "float32")
    if gan_loss == "lsgan":
        real_term = ops.square(real_logits - 1.0)
        fake_term = ops.square(fake_logits)
    elif gan_loss == "vanilla":
        real_term = ops.softplus(-real_logits)
        fake_term = ops.softplus(fake_logits)
    else:
        real_term = ops.relu(1.0 - real_logits)
        fake_term = ops.relu(1.0 + fake_logits)
    return 0.5 * (_per_example_mean(real_term) + _per_example_mean(fake_term))


def l1_loss(real, reconstructed):
    """Mean absolute error per example, in [-1, 1] pixel units (cycle and identity losses)."""
    return _per_example_mean(ops.abs(ops.cast(real, "float32") - ops.cast(reconstructed, "float32")))
