"""Input pipeline: image decoding, folder scan, tf.data datasets, demo data, TFDS."""

from keras_cartoon.data.demo import demo_data_dir
from keras_cartoon.data.images import ImageDecodeError
from keras_cartoon.data.images import decode_image_file
from keras_cartoon.data.pipeline import DatasetSplit
from keras_cartoon.data.pipeline import image_folder_datasets
from keras_cartoon.data.pipeline import load_images
from keras_cartoon.data.pipeline import paths_dataset
from keras_cartoon.data.scan import ScanResult
from keras_cartoon.data.scan import scan_image_folder

__all__ = [
    "DatasetSplit",
    "ImageDecodeError",
    "ScanResult",
    "decode_image_file",
    "demo_data_dir",
    "image_folder_datasets",
    "load_images",
    "paths_dataset",
    "scan_image_folder",
]
