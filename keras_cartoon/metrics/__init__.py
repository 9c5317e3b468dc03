"""Offline image and VAE quality metrics; none needs downloaded weights.

See docs/metrics.md for what each one measures and its limits.
"""

from keras_cartoon.metrics.diversity import diversity, diversity_ratio, pairwise_ms_ssim
from keras_cartoon.metrics.image_quality import PSNR_CAP_DB, ms_ssim, psnr, ssim
from keras_cartoon.metrics.ndb import NDB, NDBResult, ndb_score
from keras_cartoon.metrics.sharpness import gradient_energy, laplacian_variance, mean_sharpness, sharpness_ratio
from keras_cartoon.metrics.vae_metrics import (
    ELBOResult,
    active_units,
    encode_dataset,
    kl_per_dimension,
    negative_elbo,
)
