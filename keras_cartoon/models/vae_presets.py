"""Named VAE architectures.

Every preset has four stride-2 stages in the encoder and four in the decoder,
so the image side must be a multiple of 16. `encoder_filters` are the channels
after each encoder convolution. `decoder_filters[0]` is the channel count of
the dense layer's reshaped output (side / 16). `decoder_filters[1:]` are the
channels after the first three transposed convolutions, and the fourth one
outputs RGB. `num_residual_blocks` residual blocks follow every stage but the
output. The latent size is a `CartoonVAE` argument (48 by default) for every preset.
"""

VAE_PRESETS = {
    # The reference architecture: 128x128x3 -> 64x64x8 -> 32x32x12 -> 16x16x24
    # -> 8x8x32 -> latent 48, mirrored by the decoder. 0.34 M parameters,
    # 0.3 M of them in the three dense layers around the latent. It trains fast but
    # gives blurry faces.
    "baseline": {
        "encoder_filters": [8, 12, 24, 32],
        "decoder_filters": [32, 24, 12, 8],
        "num_residual_blocks": 0,
    },
    # Same layout with 8x to 32x the channels, the first fix for blurry faces.
    "wide": {
        "encoder_filters": [32, 64, 128, 256],
        "decoder_filters": [256, 128, 64, 32],
        "num_residual_blocks": 0,
    },
    # `wide` plus one residual block after every stage.
    "resnet": {
        "encoder_filters": [32, 64, 128, 256],
        "decoder_filters": [256, 128, 64, 32],
        "num_residual_blocks": 1,
    },
}


def get_preset(name):
    """Return a copy of the preset `name`, or raise `ValueError` listing the choices."""
    if name not in VAE_PRESETS:
        raise ValueError(f"`preset` must be one of {sorted(VAE_PRESETS)}. Received: preset={name!r}")
    preset = VAE_PRESETS[name]
    return {key: list(value) if isinstance(value, list) else value for key, value in preset.items()}
