"""Input pipeline speed on the real Cartoon Set PNGs, and whether training ever waits for data.

Measured in one worker, on `keras_cartoon.data.image_folder_datasets` (Pillow
decode through `tf.numpy_function`, parallel map, in-memory cache, prefetch):

- first epoch: a fresh dataset decodes every file (after the folder scan,
  timed separately). The OS page cache contains the files after the first
  repetition, so later repetitions measure decoding rather than disk reads;
- cached epochs: the same dataset again, served from its cache, 5 epochs
  per repetition;
- training on the pipeline: `CartoonVAE` steps on a fresh dataset, with the
  latency of every `next()` on the iterator recorded. A `next()` that takes
  longer than `WAIT_THRESHOLD_S` means the model waited for data. The same
  steps on one pre-made batch give the step time without any pipeline.
"""

import os
import time

# A next() slower than this means the model waited for data: a prefetched
# batch is handed over in well under a millisecond.
WAIT_THRESHOLD_S = 1e-3
# Cached epochs timed after each first epoch.
CACHED_EPOCHS = 5


def _iterate_epoch(dataset):
    images = 0
    start = time.perf_counter()
    for batch in dataset:
        images += int(batch.shape[0])
    return images, time.perf_counter() - start


class PipelineTask:
    """Worker object for the pipeline measurements; see the module docstring."""

    def __init__(self, data_dir, image_size, batch_size, seed=0):
        from keras_cartoon.data.pipeline import image_folder_datasets

        self.image_folder_datasets = image_folder_datasets
        self.data_dir = data_dir
        self.image_size = image_size
        self.batch_size = batch_size
        self.seed = seed
        self.dataset = None
        self.vae = None

    def _datasets(self, drop_remainder=False):
        # Validation 0: every file goes through the measured train pipeline.
        return self.image_folder_datasets(
            self.data_dir,
            image_size=self.image_size,
            batch_size=self.batch_size,
            validation_fraction=0.0,
            seed=self.seed,
            cache=True,
            drop_remainder=drop_remainder,
        )

    def first_epoch(self):
        """Build a fresh dataset (folder scan included) and decode one epoch."""
        start = time.perf_counter()
        split = self._datasets()
        scan_s = time.perf_counter() - start
        self.dataset = split.train
        images, decode_s = _iterate_epoch(self.dataset)
        return {
            "files": len(split.train_paths),
            "skipped_files": len(split.skipped),
            "images": images,
            "scan_s": scan_s,
            "decode_s": decode_s,
            "images_per_s": images / decode_s,
            "images_per_s_with_scan": images / (decode_s + scan_s),
        }

    def cached_epochs(self, epochs):
        """Read `epochs` more epochs of the dataset that `first_epoch` built, now from its cache.

        A cached epoch of a few hundred images takes well under a second, so
        one epoch alone is too short to time reliably.
        """
        if self.dataset is None:
            raise RuntimeError("cached_epochs() needs first_epoch() to run first. Received: dataset=None")
        rates = []
        for _ in range(epochs):
            images, seconds = _iterate_epoch(self.dataset)
            rates.append(images / seconds)
        return rates

    def _vae(self):
        if self.vae is None:
            from benchmarks.keras_training import KerasVAEContender

            self.vae = KerasVAEContender(self.image_size, self.batch_size)
            self.vae.run(2)  # trace the step before anything is timed
        return self.vae

    def train_on_pipeline(self, epochs):
        """Train the VAE for `epochs` epochs on a fresh dataset; return per-epoch `next()` and step times.

        Full batches only (`drop_remainder=True`), so a smaller last batch
        never retraces the step inside the measurement.
        """
        vae = self._vae()
        dataset = self._datasets(drop_remainder=True).train
        per_epoch = []
        for _ in range(epochs):
            iterator = iter(dataset)
            next_s, step_s = [], []
            epoch_start = time.perf_counter()
            while True:
                start = time.perf_counter()
                try:
                    batch = next(iterator)
                except StopIteration:
                    break
                fetched = time.perf_counter()
                vae.train_function(iter([batch]))["loss"].numpy()
                next_s.append(fetched - start)
                step_s.append(time.perf_counter() - fetched)
            per_epoch.append(
                {
                    "next_s": next_s,
                    "step_s": step_s,
                    "epoch_s": time.perf_counter() - epoch_start,
                    "wait_steps": [index for index, seconds in enumerate(next_s) if seconds > WAIT_THRESHOLD_S],
                }
            )
        return per_epoch

    def train_on_tensor(self, steps):
        """Time `steps` VAE steps on one pre-made batch (no pipeline)."""
        return self._vae().run(steps)


def run_pipeline(settings):
    """Measure the input pipeline; return the section's result dict, or a skip when data is absent."""
    from benchmarks import stats
    from benchmarks.workers import run_task_calls

    data_dir = settings.data_dir
    if not os.path.isdir(data_dir) or not os.listdir(data_dir):
        return {
            "status": "skipped",
            "reason": f"Cartoon Set PNGs not found at {data_dir}; pass --data_dir to measure the pipeline.",
        }

    calls = {}
    for repetition in range(settings.pipeline_repetitions):
        calls[f"first_epoch_{repetition}"] = ("first_epoch", ())
        calls[f"cached_epochs_{repetition}"] = ("cached_epochs", (CACHED_EPOCHS,))
    # Alternate pipeline-fed and tensor-fed training so both see the same machine load.
    for repetition in range(settings.pipeline_repetitions):
        calls[f"train_on_pipeline_{repetition}"] = ("train_on_pipeline", (settings.pipeline_train_epochs,))
        calls[f"train_on_tensor_{repetition}"] = ("train_on_tensor", (settings.vae_steps,))
    kwargs = dict(data_dir=data_dir, image_size=settings.pipeline_image_size, batch_size=settings.pipeline_batch_size)
    results = run_task_calls("pipeline", "benchmarks.input_pipeline:PipelineTask", kwargs, calls, settings)

    failures = {key: value for key, value in results.items() if key != "_worker" and value["status"] != "ok"}
    if failures:
        key, failure = next(iter(failures.items()))
        return {"status": failure["status"], "reason": f"{key}: {failure['reason']}", "calls": results}

    def values(prefix):
        return [results[key]["value"] for key in results if key.startswith(prefix)]

    first = values("first_epoch_")
    cached = [rate for rates in values("cached_epochs_") for rate in rates]
    pipeline_epochs = values("train_on_pipeline_")
    tensor_steps = values("train_on_tensor_")
    batch = settings.pipeline_batch_size

    # Epoch 1 decodes while training; later epochs read the cache.
    later_epochs = [epoch for run in pipeline_epochs for epoch in run[1:]]
    later_next_s = [seconds for epoch in later_epochs for seconds in epoch["next_s"]]
    later_step_s = [seconds for epoch in later_epochs for seconds in epoch["step_s"]]
    first_epochs = [run[0] for run in pipeline_epochs]
    return {
        "status": "ok",
        "data_dir": data_dir,
        "image_size": settings.pipeline_image_size,
        "batch_size": batch,
        "files": first[0]["files"],
        "skipped_files": first[0]["skipped_files"],
        "scan_s": stats.summarize([run["scan_s"] for run in first]),
        "first_epoch_images_per_s": stats.summarize([run["images_per_s"] for run in first]),
        "cached_epoch_images_per_s": stats.summarize(cached),
        "training": {
            "epochs_per_repetition": settings.pipeline_train_epochs,
            "wait_threshold_s": WAIT_THRESHOLD_S,
            "first_epoch_waits": sum(len(epoch["wait_steps"]) for epoch in first_epochs),
            "first_epoch_steps": sum(len(epoch["next_s"]) for epoch in first_epochs),
            "later_epoch_waits": sum(len(epoch["wait_steps"]) for epoch in later_epochs),
            # The shuffle buffer refills at the start of every epoch, so a wait there is expected.
            "later_epoch_waits_at_epoch_start": sum(epoch["wait_steps"][:1] == [0] for epoch in later_epochs),
            "later_epoch_steps": len(later_next_s),
            "later_epoch_wait_share": sum(later_next_s) / sum(epoch["epoch_s"] for epoch in later_epochs)
            if later_epochs
            else None,
            "later_epoch_next_s": stats.summarize(later_next_s),
            "later_epoch_max_next_s": max(later_next_s) if later_next_s else None,
            "first_epoch_images_per_s": stats.summarize(
                [batch * len(epoch["next_s"]) / epoch["epoch_s"] for epoch in first_epochs]
            ),
            "pipeline_step_images_per_s": stats.summarize(
                [batch * len(later_step_s) / (sum(later_step_s) + sum(later_next_s))] if later_step_s else []
            ),
            "tensor_step_images_per_s": stats.summarize(stats.throughput_per_repetition(tensor_steps, batch)),
            "epochs": pipeline_epochs,
        },
        "peak_rss_mib": results["_worker"]["peak_rss_mib"],
    }
