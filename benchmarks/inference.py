"""Batch-1 inference latency: TFLite files of each quantization variant against Keras.

The decoder of a `baseline` CartoonVAE and a ResNet CycleGAN generator are
converted with the `export` package's own steps (float32 rebuild, batch-1
SavedModel, `TFLiteConverter`, builtin ops only) and run with the LiteRT
interpreter using the benchmark's thread count. The models are freshly
initialised, not trained: latency and file size do not depend on the weight
values, but the int8 calibration ranges do, so the int8 error here does not predict
the error of a trained model. Contenders alternate across repetitions like the
training benchmarks; all of them live in one worker, since memory is not
compared here.
"""

import pathlib
import tempfile
import time

import numpy as np

PARTS = ("decoder", "generator")
# Export experiment: the decoder with sub-pixel convolutions (benchmarks/subpixel.py),
# compared against the Keras decoder it was rewritten from.
SUBPIXEL_PART = "decoder_subpixel"
# Timed calls per contender and repetition even when they exceed the time budget.
MIN_INFERENCE_RUNS = 3
KERAS_CONTENDERS = ("keras_predict_on_batch", "keras_call")


def _quantize(values, details):
    scale, zero_point = details["quantization"]
    if not scale:
        return values.astype(details["dtype"])
    info = np.iinfo(details["dtype"])
    return np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(details["dtype"])


def _dequantize(values, details):
    scale, zero_point = details["quantization"]
    if not scale:
        return values.astype(np.float32)
    return (values.astype(np.float32) - zero_point) * scale


class _TFLiteRunner:
    """One interpreter with its input and output tensor details, fed float inputs."""

    def __init__(self, content, threads):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=content, num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input_details = self.interpreter.get_input_details()[0]
        self.output_details = self.interpreter.get_output_details()[0]

    def prepare(self, float_input):
        return _quantize(float_input, self.input_details)

    def __call__(self, prepared_input):
        self.interpreter.set_tensor(self.input_details["index"], prepared_input)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_details["index"])

    def float_output(self, prepared_input):
        return _dequantize(self(prepared_input), self.output_details)


class InferenceTask:
    """Worker object: builds both models, converts them, and times single calls on request."""

    def __init__(
        self,
        image_size,
        variants,
        threads,
        calibration_images,
        generator_filters=64,
        num_residual_blocks=None,
        data_dir=None,
        seed=0,
    ):
        import keras

        from export.subpixel import subpixel_decoder
        from export import parts as parts_lib
        from keras_cartoon.models.cyclegan_generators import resnet_generator
        from keras_cartoon.models.vae import CartoonVAE

        keras.utils.set_random_seed(seed)
        self.threads = threads
        self.variants = tuple(variants)
        self.calibration_images = calibration_images
        self.data_dir = data_dir
        vae = CartoonVAE(image_size=image_size, preset="baseline", seed=seed)
        vae(np.zeros((1, image_size, image_size, 3), np.float32))
        generator = resnet_generator(image_size, generator_filters, num_residual_blocks)
        self.parts = {
            "decoder": parts_lib.resolve_parts(vae, ["decoder"])[0],
            "generator": parts_lib.resolve_parts(generator, ["generator"])[0],
        }
        self.parts[SUBPIXEL_PART] = parts_lib.ExportPart(
            name=SUBPIXEL_PART, kind="decoder", model=subpixel_decoder(self.parts["decoder"].model)
        )
        rng = np.random.default_rng(seed)
        latent_dim = self.parts["decoder"].input_shape[0]
        self.inputs = {
            "decoder": rng.standard_normal((1, latent_dim)).astype(np.float32),
            "generator": rng.uniform(-1.0, 1.0, (1, image_size, image_size, 3)).astype(np.float32),
        }
        self.inputs[SUBPIXEL_PART] = self.inputs["decoder"]
        self.runners = {}

    def _calibration(self, part_name, input_name):
        from export import tflite

        part = self.parts[part_name]
        if part.kind == "decoder":
            return tflite.latent_calibration(input_name, part.input_shape[0], self.calibration_images, seed=0)
        images = None
        if self.data_dir and pathlib.Path(self.data_dir).is_dir():
            from keras_cartoon.data.pipeline import load_images
            from keras_cartoon.data.scan import scan_image_folder

            paths = scan_image_folder(self.data_dir).paths[: self.calibration_images]
            images = load_images(paths, part.input_shape[0])
        if images is None:
            images = np.random.default_rng(0).uniform(-1.0, 1.0, (self.calibration_images, *part.input_shape))
            images = images.astype(np.float32)
        return tflite.image_calibration(input_name, images, uint8_io=False)

    def export(self):
        """Convert each part to each variant; return file sizes, conversion times and errors against Keras."""
        from export import conventions
        from export import savedmodel
        from export import tflite

        report = {}
        with tempfile.TemporaryDirectory(prefix="benchmark-export-") as scratch:
            for part_name, part in self.parts.items():
                source_dir = pathlib.Path(scratch) / part_name
                start = time.perf_counter()
                savedmodel.export_tflite_source(part, source_dir, uint8_io=False)
                report[part_name] = {"saved_model_s": time.perf_counter() - start, "variants": {}}
                # The sub-pixel decoder is checked against the Keras decoder it replaces.
                reference_part = self.parts["decoder" if part_name == SUBPIXEL_PART else part_name]
                reference = np.asarray(reference_part.model(self.inputs[part_name], training=False))
                input_name = conventions.INPUT_NAMES[part.kind]
                for variant in self.variants:
                    calibration = self._calibration(part_name, input_name) if variant == "int8" else None
                    start = time.perf_counter()
                    content = tflite.convert(source_dir, variant, calibration)
                    convert_s = time.perf_counter() - start
                    runner = _TFLiteRunner(content, self.threads)
                    self.runners[f"{part_name}/{variant}"] = runner
                    output = runner.float_output(runner.prepare(self.inputs[part_name]))
                    report[part_name]["variants"][variant] = {
                        "size_bytes": len(content),
                        "convert_s": convert_s,
                        "max_abs_error_vs_keras": float(np.max(np.abs(output - reference))),
                        "input_dtype": np.dtype(runner.input_details["dtype"]).name,
                    }
                report[part_name]["parameters"] = int(part.model.count_params())
                # float32 weights: 4 bytes per parameter, the reference for the file sizes.
                report[part_name]["float32_weight_bytes"] = 4 * report[part_name]["parameters"]
        return report

    def contenders(self):
        names = [f"{part}/{keras_name}" for part in PARTS for keras_name in KERAS_CONTENDERS]
        return names + sorted(self.runners)

    def latency(self, name, runs, warmup_runs, max_seconds):
        """Return the seconds of each timed batch-1 call of contender `name`.

        Stops after `runs` calls, or earlier once the calls took `max_seconds`
        in total and at least `MIN_INFERENCE_RUNS` were made.
        """
        part_name, kind = name.split("/")
        model = self.parts[part_name].model
        float_input = self.inputs[part_name]
        if kind == "keras_predict_on_batch":
            call = lambda: model.predict_on_batch(float_input)  # noqa: E731
        elif kind == "keras_call":
            call = lambda: np.asarray(model(float_input, training=False))  # noqa: E731
        else:
            runner = self.runners[name]
            prepared = runner.prepare(float_input)
            call = lambda: runner(prepared)  # noqa: E731
        for _ in range(warmup_runs):
            call()
        durations = []
        for _ in range(runs):
            start = time.perf_counter()
            call()
            durations.append(time.perf_counter() - start)
            if len(durations) >= MIN_INFERENCE_RUNS and sum(durations) > max_seconds:
                break
        return durations


def run_inference(settings):
    """Convert, then time every contender up to `inference_runs` times per repetition, alternating."""
    from absl import logging

    from benchmarks import stats
    from benchmarks.workers import Worker
    from benchmarks.workers import WorkerError
    from benchmarks.workers import last_line

    kwargs = dict(
        image_size=settings.inference_image_size,
        variants=settings.inference_variants,
        threads=settings.threads,
        calibration_images=settings.inference_calibration_images,
        generator_filters=settings.cyclegan_filters,
        num_residual_blocks=settings.cyclegan_residual_blocks,
        data_dir=settings.data_dir,
    )
    worker = Worker("inference", "benchmarks.inference:InferenceTask", kwargs, settings.threads, settings.interop_threads)
    try:
        if worker.start() == "skipped":
            return {"status": "skipped", "reason": worker.skip_reason}
        export_report = worker.call("export")
        names = worker.call("contenders")
        latencies = {name: [] for name in names}
        for repetition in range(settings.repetitions):
            for name in stats.rotated(names, repetition):
                latencies[name] += worker.call(
                    "latency", name, settings.inference_runs, settings.inference_warmup_runs, settings.inference_max_seconds
                )
            logging.info("Inference repetition %d/%d done.", repetition + 1, settings.repetitions)
    except WorkerError as error:
        logging.error("Inference benchmark failed: %s", error)
        return {"status": "failed", "reason": last_line(str(error)), "error": str(error)}
    finally:
        worker.close()

    contenders = {}
    for name, durations in latencies.items():
        contenders[name] = {"latency_ms": stats.summarize([seconds * 1e3 for seconds in durations])}
    return {
        "status": "ok",
        "image_size": settings.inference_image_size,
        "runs_per_repetition": settings.inference_runs,
        "max_seconds_per_repetition": settings.inference_max_seconds,
        "warmup_runs": settings.inference_warmup_runs,
        "repetitions": settings.repetitions,
        "export": export_report,
        "contenders": contenders,
    }
