"""Models and layers; importing this package registers them for `.keras` loading."""

from keras_cartoon.models.layers import ResidualBlock, Sampling
from keras_cartoon.models.vae import CartoonVAE
from keras_cartoon.models.vae_presets import VAE_PRESETS

# CycleGAN: imported so its registered classes resolve in load_model_safely.
from keras_cartoon.models.cyclegan import CycleGAN  # noqa: F401,E402
from keras_cartoon.models.cyclegan_layers import ReflectionPadding2D  # noqa: F401,E402
