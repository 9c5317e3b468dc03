"""PyTorch training steps of the benchmark networks, as contenders for the worker processes.

Each contender owns its model, optimizer and a fixed pre-made input batch, and
`run(num_steps)` returns the wall time of every step. PyTorch on CPU runs
eagerly and synchronously, so a step is finished when `optimizer.step()`
returns.
"""

import random
import time

import torch
import torch.nn.functional as F

from benchmarks import torch_models


def synthetic_images(batch_size, image_size, seed):
    """Return a fixed NCHW float32 batch in [-1, 1]."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((batch_size, 3, image_size, image_size), generator=generator) * 2.0 - 1.0


class TorchVAEContender:
    """CartoonVAE `baseline` training in PyTorch: Adam(1e-3), sum of squared error + KL."""

    def __init__(self, image_size, batch_size, channels_last=False, seed=0):
        torch.manual_seed(seed)
        self.batch_size = batch_size
        self.model = torch_models.TorchVAE(image_size=image_size)
        self.images = synthetic_images(batch_size, image_size, seed)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
            self.images = self.images.contiguous(memory_format=torch.channels_last)
        self._make_optimizer()
        self.model.train()

    def _make_optimizer(self):
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3, eps=torch_models.KERAS_ADAM_EPSILON)

    def to_meta(self):
        """Move the model and batch to the "meta" device: shapes only, so FLOP counting takes no compute."""
        self.model.to("meta")
        self.images = torch.empty_like(self.images, device="meta")
        self._make_optimizer()

    def describe(self):
        return {"parameters": torch_models.count_parameters(self.model)}

    def step(self):
        self.optimizer.zero_grad(set_to_none=True)
        reconstructed_images, z_mean, z_log_var = self.model(self.images)
        loss = torch_models.vae_loss(self.images, reconstructed_images, z_mean, z_log_var)
        loss.backward()
        self.optimizer.step()
        return loss

    def run(self, num_steps):
        durations = []
        for _ in range(num_steps):
            start = time.perf_counter()
            self.step()
            durations.append(time.perf_counter() - start)
        return durations


class HistoryPool:
    """CycleGAN image pool: below capacity store and return; then swap with probability 0.5."""

    def __init__(self, pool_size, seed):
        self.pool_size = pool_size
        self.images = []
        self.random = random.Random(seed)

    def query(self, images):
        if self.pool_size == 0:
            return images
        outputs = []
        for image in images:
            image = image.unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image)
                outputs.append(image)
            elif self.random.random() < 0.5:
                slot = self.random.randrange(self.pool_size)
                outputs.append(self.images[slot].clone())
                self.images[slot] = image
            else:
                outputs.append(image)
        return torch.cat(outputs, dim=0)


def _lsgan(logits, target):
    return F.mse_loss(logits, torch.full_like(logits, target))


class TorchCycleGANContender:
    """CycleGAN training in PyTorch with the Keras model's losses, weights and optimizers.

    Per step: generators on LSGAN + 10 x cycle L1 + 5 x identity L1 with one
    Adam(2e-4, beta_1=0.5) for both, then discriminators on real images
    against fakes from 50-image history pools (LSGAN, halved) with a second Adam.
    """

    def __init__(self, image_size, batch_size, filters=64, num_residual_blocks=None, seed=0, channels_last=False):
        torch.manual_seed(seed)
        self.batch_size = batch_size
        if num_residual_blocks is None:
            num_residual_blocks = torch_models.default_num_residual_blocks(image_size)
        self.generator_a2b = torch_models.resnet_generator(filters, num_residual_blocks)
        self.generator_b2a = torch_models.resnet_generator(filters, num_residual_blocks)
        self.discriminator_a = torch_models.patchgan_discriminator(filters)
        self.discriminator_b = torch_models.patchgan_discriminator(filters)
        self.real_a = synthetic_images(batch_size, image_size, seed)
        self.real_b = synthetic_images(batch_size, image_size, seed + 1)
        if channels_last:
            for network in self._networks():
                network.to(memory_format=torch.channels_last)
            self.real_a = self.real_a.contiguous(memory_format=torch.channels_last)
            self.real_b = self.real_b.contiguous(memory_format=torch.channels_last)

        self._make_optimizers()
        self.pool_a = HistoryPool(50, seed)
        self.pool_b = HistoryPool(50, seed + 1)

    def _make_optimizers(self):
        adam = dict(lr=2e-4, betas=(0.5, 0.999), eps=torch_models.KERAS_ADAM_EPSILON)
        self.generator_optimizer = torch.optim.Adam(
            list(self.generator_a2b.parameters()) + list(self.generator_b2a.parameters()), **adam
        )
        self.discriminator_optimizer = torch.optim.Adam(
            list(self.discriminator_a.parameters()) + list(self.discriminator_b.parameters()), **adam
        )

    def to_meta(self):
        """Move the networks and batches to the "meta" device: shapes only, so FLOP counting takes no compute."""
        for network in self._networks():
            network.to("meta")
        self.real_a = torch.empty_like(self.real_a, device="meta")
        self.real_b = torch.empty_like(self.real_b, device="meta")
        self._make_optimizers()

    def _networks(self):
        return (self.generator_a2b, self.generator_b2a, self.discriminator_a, self.discriminator_b)

    def describe(self):
        return {
            "generator_parameters": torch_models.count_parameters(self.generator_a2b),
            "discriminator_parameters": torch_models.count_parameters(self.discriminator_a),
        }

    def _set_discriminators_trainable(self, trainable):
        for network in (self.discriminator_a, self.discriminator_b):
            for parameter in network.parameters():
                parameter.requires_grad_(trainable)

    def step(self):
        real_a, real_b = self.real_a, self.real_b

        # Generators. Discriminator weights get no gradient here, as in Keras,
        # where the tape only differentiates with respect to generator weights.
        self._set_discriminators_trainable(False)
        self.generator_optimizer.zero_grad(set_to_none=True)
        fake_b = self.generator_a2b(real_a)
        cycled_a = self.generator_b2a(fake_b)
        fake_a = self.generator_b2a(real_b)
        cycled_b = self.generator_a2b(fake_a)
        same_a = self.generator_b2a(real_a)
        same_b = self.generator_a2b(real_b)
        adversarial_loss = _lsgan(self.discriminator_b(fake_b), 1.0) + _lsgan(self.discriminator_a(fake_a), 1.0)
        cycle_loss = F.l1_loss(cycled_a, real_a) + F.l1_loss(cycled_b, real_b)
        identity_loss = F.l1_loss(same_a, real_a) + F.l1_loss(same_b, real_b)
        generator_loss = adversarial_loss + 10.0 * cycle_loss + 5.0 * identity_loss
        generator_loss.backward()
        self.generator_optimizer.step()

        # Discriminators on real images and pooled fakes.
        self._set_discriminators_trainable(True)
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        pooled_fake_a = self.pool_a.query(fake_a.detach())
        pooled_fake_b = self.pool_b.query(fake_b.detach())
        discriminator_a_loss = 0.5 * (
            _lsgan(self.discriminator_a(real_a), 1.0) + _lsgan(self.discriminator_a(pooled_fake_a), 0.0)
        )
        discriminator_b_loss = 0.5 * (
            _lsgan(self.discriminator_b(real_b), 1.0) + _lsgan(self.discriminator_b(pooled_fake_b), 0.0)
        )
        (discriminator_a_loss + discriminator_b_loss).backward()
        self.discriminator_optimizer.step()
        return generator_loss

    def run(self, num_steps):
        durations = []
        for _ in range(num_steps):
            start = time.perf_counter()
            self.step()
            durations.append(time.perf_counter() - start)
        return durations
