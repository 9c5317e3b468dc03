"""Export of keras_cartoon models to SavedModel and TFLite, with verification (`python -m export`)."""
