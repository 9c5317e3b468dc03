"""SavedModel export with named signatures, through `keras.export.ExportArchive`."""

import keras

from export import parts as parts_lib

# Signature names per part kind; `serving_default` is added as an alias so
# TF Serving and `saved_model_cli` find the float endpoint without a name.
SIGNATURE_NAMES = {"decoder": "decode", "encoder": "encode", "generator": "translate"}


def signature_name(part, uint8_io=False):
    name = SIGNATURE_NAMES[part.kind]
    return f"{name}_uint8" if uint8_io else name


def export_saved_model(part, directory, uint8_io=False):
    """Write `part` as a SavedModel with a dynamic batch and return its signature names.

    The float [-1, 1] signature is always written and aliased as
    `serving_default`. With `uint8_io`, a second signature has the pixel
    conversions inside the graph.
    """
    archive = keras.export.ExportArchive()
    archive.track(part.model)
    names = []
    for index, use_uint8 in enumerate([False, True] if uint8_io else [False]):
        serve = parts_lib.serving_function(part, use_uint8)
        spec = [parts_lib.input_spec(part, use_uint8, batch_size=None)]
        name = signature_name(part, use_uint8)
        archive.add_endpoint(name=name, fn=serve, input_signature=spec)
        names.append(name)
        if index == 0:
            archive.add_endpoint(name="serving_default", fn=serve, input_signature=spec)
    archive.write_out(str(directory), verbose=False)
    return names


def export_tflite_source(part, directory, uint8_io=False):
    """Write a SavedModel with one `serving_default` signature of batch 1, the TFLite source.

    One signature keeps the converter's calibrator unambiguous, and the static
    batch gives static shapes, which GPU and NNAPI delegates require.
    """
    archive = keras.export.ExportArchive()
    archive.track(part.model)
    archive.add_endpoint(
        name="serving_default",
        fn=parts_lib.serving_function(part, uint8_io),
        input_signature=[parts_lib.input_spec(part, uint8_io, batch_size=1)],
    )
    archive.write_out(str(directory), verbose=False)
