"""PyTorch copies of the keras_cartoon networks, written only to compare training speed.

Each network mirrors its Keras counterpart layer by layer: the same kernel
sizes, strides, padding, bias flags, normalisation epsilons and initialisers,
so both sides do the same arithmetic on the same shapes. Tensors are NCHW, the
PyTorch convention, while Keras is NHWC. `tests/test_benchmarks.py` checks that
the parameter counts match the Keras models.

The mirrored Keras code, at the time of writing:

- `keras_cartoon/models/vae.py` (`baseline` preset). Encoder: 4x4 stride-2
  "same" convolutions without bias, each followed by BatchNormalization
  (momentum 0.99, epsilon 1e-3) and ReLU, then Dense `z_mean` and
  `z_log_var` with bias. Decoder: a bias-free Dense to the 8x8 grid with
  BatchNormalization and ReLU, then 4x4 stride-2 transposed convolutions,
  the last one with bias and tanh. Keras defaults apply: glorot_uniform
  kernels, zero biases, BatchNormalization gamma 1 and beta 0.
- `keras_cartoon/models/cyclegan_generators.py`, `cyclegan_layers.py` and
  `patchgan.py`: the ResNet generator and the PatchGAN with kernels drawn
  from N(0, 0.02), instance norm as GroupNormalization with one group per
  channel (epsilon 1e-5, gamma from N(1, 0.02)), bias only where the Keras
  layer has one.
"""

import torch
from torch import nn

VAE_ENCODER_FILTERS = (8, 12, 24, 32)
VAE_DECODER_FILTERS = (32, 24, 12, 8)
VAE_LATENT_DIM = 48

# Keras BatchNormalization defaults: running mean updated as
# 0.99 * old + 0.01 * new (PyTorch's `momentum` is the weight of the new value).
KERAS_BATCHNORM_EPSILON = 1e-3
KERAS_BATCHNORM_MOMENTUM = 0.01
# Keras Adam's default epsilon (PyTorch's default is 1e-8).
KERAS_ADAM_EPSILON = 1e-7

CYCLEGAN_INIT_STDDEV = 0.02
CYCLEGAN_NORM_EPSILON = 1e-5


def _glorot_uniform(module):
    # Keras glorot_uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)), where the
    # fans multiply the kernel's spatial size by its input or output channels.
    # torch.nn.init.xavier_uniform_ computes the same fans for Conv, ConvTranspose
    # and Linear weights.
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _same_padding(kernel_size, stride):
    """Return the per-side padding of Keras "same" for an even input side.

    Keras pads `max(kernel - stride, 0)` in total and puts an odd pixel at the
    end. For kernel 4 and stride 2 that is 1 on each side, which PyTorch can
    express. Odd totals are rejected rather than silently shifted.
    """
    total = max(kernel_size - stride, 0)
    if total % 2:
        raise ValueError(
            "Keras 'same' padding is asymmetric for this kernel and stride. "
            f"Received: kernel_size={kernel_size}, stride={stride}"
        )
    return total // 2


class TorchVAE(nn.Module):
    """The `baseline` CartoonVAE in PyTorch: image (N, 3, S, S) -> (reconstruction, z_mean, z_log_var)."""

    def __init__(
        self,
        image_size=128,
        encoder_filters=VAE_ENCODER_FILTERS,
        decoder_filters=VAE_DECODER_FILTERS,
        latent_dim=VAE_LATENT_DIM,
        kernel_size=4,
    ):
        super().__init__()
        if image_size % 16:
            raise ValueError(f"`image_size` must be a multiple of 16. Received: image_size={image_size}")
        padding = _same_padding(kernel_size, 2)
        self.grid_size = image_size // 16
        self.decoder_filters = tuple(decoder_filters)

        encoder_layers = []
        channels = 3
        for filters in encoder_filters:
            encoder_layers += [
                nn.Conv2d(channels, filters, kernel_size, stride=2, padding=padding, bias=False),
                nn.BatchNorm2d(filters, eps=KERAS_BATCHNORM_EPSILON, momentum=KERAS_BATCHNORM_MOMENTUM),
                nn.ReLU(),
            ]
            channels = filters
        self.encoder = nn.Sequential(*encoder_layers, nn.Flatten())
        flat_size = channels * self.grid_size * self.grid_size
        self.z_mean = nn.Linear(flat_size, latent_dim)
        self.z_log_var = nn.Linear(flat_size, latent_dim)

        grid_units = self.grid_size * self.grid_size * decoder_filters[0]
        self.decoder_dense = nn.Sequential(
            nn.Linear(latent_dim, grid_units, bias=False),
            nn.BatchNorm1d(grid_units, eps=KERAS_BATCHNORM_EPSILON, momentum=KERAS_BATCHNORM_MOMENTUM),
            nn.ReLU(),
        )
        decoder_layers = []
        channels = decoder_filters[0]
        for filters in decoder_filters[1:]:
            decoder_layers += [
                nn.ConvTranspose2d(channels, filters, kernel_size, stride=2, padding=padding, bias=False),
                nn.BatchNorm2d(filters, eps=KERAS_BATCHNORM_EPSILON, momentum=KERAS_BATCHNORM_MOMENTUM),
                nn.ReLU(),
            ]
            channels = filters
        decoder_layers += [nn.ConvTranspose2d(channels, 3, kernel_size, stride=2, padding=padding), nn.Tanh()]
        self.decoder = nn.Sequential(*decoder_layers)
        self.apply(_glorot_uniform)

    def decode(self, z):
        x = self.decoder_dense(z)
        # Keras reshapes the dense output as (H, W, C) and this reshape uses
        # (C, H, W). The dense layer is fully connected, so the cost is the same.
        x = x.view(-1, self.decoder_filters[0], self.grid_size, self.grid_size)
        return self.decoder(x)

    def forward(self, images):
        features = self.encoder(images)
        z_mean = self.z_mean(features)
        z_log_var = self.z_log_var(features)
        z = z_mean + torch.exp(0.5 * z_log_var) * torch.randn_like(z_mean)
        return self.decode(z), z_mean, z_log_var


def vae_loss(real_images, reconstructed_images, z_mean, z_log_var):
    """Return the batch mean of (sum of squared error + KL divergence to N(0, I)) per image."""
    reconstruction_loss = torch.sum((real_images - reconstructed_images) ** 2, dim=(1, 2, 3))
    kl_loss = -0.5 * torch.sum(1 + z_log_var - z_mean**2 - torch.exp(z_log_var), dim=1)
    return torch.mean(reconstruction_loss + kl_loss)


def _cyclegan_init(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, CYCLEGAN_INIT_STDDEV)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.InstanceNorm2d):
        nn.init.normal_(module.weight, 1.0, CYCLEGAN_INIT_STDDEV)
        nn.init.zeros_(module.bias)


def _instance_norm(channels):
    # GroupNormalization(groups=-1) in Keras: per image and channel, with gamma and beta.
    return nn.InstanceNorm2d(channels, eps=CYCLEGAN_NORM_EPSILON, affine=True)


class _ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            _instance_norm(channels),
            nn.ReLU(),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            _instance_norm(channels),
        )

    def forward(self, x):
        return x + self.body(x)


def resnet_generator(filters=64, num_residual_blocks=6):
    """Return the CycleGAN ResNet generator: (N, 3, S, S) in [-1, 1] -> same shape in [-1, 1]."""
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, filters, 7, bias=False), _instance_norm(filters), nn.ReLU()]
    channels = filters
    for multiplier in (2, 4):
        # Keras "same" with kernel 3, stride 2 on an even side pads 0 before and 1 after.
        layers += [
            nn.ZeroPad2d((0, 1, 0, 1)),
            nn.Conv2d(channels, filters * multiplier, 3, stride=2, bias=False),
            _instance_norm(filters * multiplier),
            nn.ReLU(),
        ]
        channels = filters * multiplier
    layers += [_ResidualBlock(channels) for _ in range(num_residual_blocks)]
    for multiplier in (2, 1):
        # Keras "same" transposed conv, kernel 3, stride 2: output exactly 2x the input.
        layers += [
            nn.ConvTranspose2d(channels, filters * multiplier, 3, stride=2, padding=1, output_padding=1, bias=False),
            _instance_norm(filters * multiplier),
            nn.ReLU(),
        ]
        channels = filters * multiplier
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(channels, 3, 7), nn.Tanh()]
    generator = nn.Sequential(*layers)
    generator.apply(_cyclegan_init)
    return generator


def patchgan_discriminator(filters=64, num_downsampling=3):
    """Return the 70x70 PatchGAN: (N, 3, S, S) -> logits (N, 1, S / 2**n, S / 2**n).

    Keras "same" padding with kernel 4: stride 2 pads 1 on each side, stride 1
    pads 1 before and 2 after, so the output side matches the Keras model.
    """
    layers = []
    channels = 3
    for i in range(num_downsampling + 1):
        out_channels = filters * min(2**i, 8)
        stride = 2 if i < num_downsampling else 1
        layers.append(nn.ZeroPad2d(1) if stride == 2 else nn.ZeroPad2d((1, 2, 1, 2)))
        layers.append(nn.Conv2d(channels, out_channels, 4, stride=stride, bias=i == 0))
        if i > 0:
            layers.append(_instance_norm(out_channels))
        layers.append(nn.LeakyReLU(0.2))
        channels = out_channels
    layers += [nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(channels, 1, 4)]
    discriminator = nn.Sequential(*layers)
    discriminator.apply(_cyclegan_init)
    return discriminator


def count_parameters(module):
    return sum(parameter.numel() for parameter in module.parameters())


def default_num_residual_blocks(image_size):
    """Mirror the Keras default: 6 blocks below 256x256, 9 from 256x256 up."""
    return 9 if image_size >= 256 else 6
