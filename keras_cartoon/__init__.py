"""keras_cartoon: cartoon face generation with Keras 3 and TensorFlow."""

__version__ = "0.1.0"
