"""Child processes that each hold one contender, so runs are isolated but can alternate.

The runner starts one worker per contender with the `spawn` start method, so
each child imports TensorFlow or PyTorch fresh, with thread counts set before
the first op, and its peak memory belongs to that contender alone. The runner
then calls methods of the contender object over a pipe, one worker at a time,
while the other workers wait idle on their pipes.

Peak memory is the kernel's high-water mark of resident memory (`VmHWM` in
`/proc/self/status`), which belongs to the process image after `exec`, so it
does not include the parent's pages. Where `/proc` is missing, it falls back to
`getrusage(RUSAGE_SELF).ru_maxrss`.
"""

import importlib
import multiprocessing
import os
import resource
import sys
import time
import traceback

from absl import logging

# Seconds to wait for one call before the worker is declared hung.
DEFAULT_CALL_TIMEOUT_S = 3600


class WorkerError(RuntimeError):
    """A worker raised, died or timed out; the message carries its traceback."""


def thread_environment(threads, interop_threads):
    """Return environment variables that fix the thread pools of every library a worker loads."""
    return {
        # OpenMP (PyTorch's intra-op pool), OpenBLAS and MKL (NumPy), oneDNN.
        "OMP_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        # Read by TensorFlow when it creates its thread pools.
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": str(interop_threads),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CUDA_VISIBLE_DEVICES": "",
        "KERAS_BACKEND": "tensorflow",
        "NO_GCE_CHECK": "true",
        "TFDS_DISABLE_GCS": "1",
        "MPLBACKEND": "Agg",
    }


def set_framework_threads(threads, interop_threads):
    """Set intra-op and inter-op pools of TensorFlow and PyTorch if the worker has imported them."""
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(interop_threads)
        except RuntimeError:
            # Raised once parallel work has started; the value set first stays.
            pass
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(interop_threads)
        except RuntimeError:
            # Raised once the TF runtime is initialised; the environment variables still apply.
            pass


def peak_rss_bytes():
    """Return this process's peak resident memory in bytes."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def current_rss_bytes():
    import psutil

    return psutil.Process().memory_info().rss


def _load_factory(factory_path):
    module_name, _, attribute = factory_path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _worker_main(connection, factory_path, kwargs, threads, interop_threads):
    os.environ.update(thread_environment(threads, interop_threads))
    start = time.perf_counter()
    try:
        factory = _load_factory(factory_path)
        set_framework_threads(threads, interop_threads)
        contender = factory(**kwargs)
    except ImportError as error:
        connection.send(("skipped", f"{type(error).__name__}: {error}"))
        return
    except Exception:  # noqa: BLE001 - reported to the runner, which records it
        connection.send(("error", traceback.format_exc()))
        return
    connection.send(
        ("ready", {"setup_s": time.perf_counter() - start, "rss_after_setup_bytes": current_rss_bytes()})
    )

    while True:
        message = connection.recv()
        if message[0] == "close":
            connection.send(("closed", {"peak_rss_bytes": peak_rss_bytes()}))
            connection.close()
            # Skip interpreter shutdown: TensorFlow's teardown can take many
            # seconds, and the worker has nothing to save but its log output.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        _, method, args = message
        try:
            result = getattr(contender, method)(*args)
        except Exception:  # noqa: BLE001 - reported to the runner
            connection.send(("error", traceback.format_exc()))
        else:
            connection.send(("ok", result))


class Worker:
    """A child process that builds `factory(**kwargs)` and runs its methods on request.

    Args:
        name: str. Label used in logs and errors.
        factory_path: str. `"module:callable"` returning the contender object.
        kwargs: dict. Keyword arguments of the factory; must be picklable.
        threads: int. Intra-op threads of every framework in the worker.
        interop_threads: int. Inter-op threads (TensorFlow, PyTorch).
        timeout_s: float. Seconds one call may take.
    """

    def __init__(self, name, factory_path, kwargs, threads, interop_threads, timeout_s=DEFAULT_CALL_TIMEOUT_S):
        self.name = name
        self.timeout_s = timeout_s
        context = multiprocessing.get_context("spawn")
        self._connection, child_connection = context.Pipe()
        self._process = context.Process(
            target=_worker_main,
            args=(child_connection, factory_path, kwargs, threads, interop_threads),
            name=f"benchmark-{name}",
            daemon=True,
        )
        self.status = "starting"
        self.skip_reason = None
        self.setup = {}

    def start(self):
        """Start the child and wait until the contender is built; return "ready" or "skipped"."""
        self._process.start()
        kind, payload = self._receive()
        if kind == "skipped":
            self.status, self.skip_reason = "skipped", payload
            self._process.join(timeout=30)
        elif kind == "error":
            self.status = "failed"
            self._process.join(timeout=30)
            raise WorkerError(f"{self.name}: building the contender failed:\n{payload}")
        else:
            self.status, self.setup = "ready", payload
        return self.status

    def call(self, method, *args):
        """Run `contender.method(*args)` in the child and return its result."""
        if self.status != "ready":
            raise WorkerError(f"{self.name}: the worker is not ready. Received: status={self.status}")
        self._connection.send(("call", method, args))
        kind, payload = self._receive()
        if kind == "error":
            raise WorkerError(f"{self.name}.{method} failed:\n{payload}")
        return payload

    def close(self):
        """Stop the child; return its peak resident memory in bytes, or None if it had stopped."""
        peak = None
        if self.status == "ready" and self._process.is_alive():
            self._connection.send(("close",))
            try:
                _, payload = self._receive()
                peak = payload["peak_rss_bytes"]
            except WorkerError as error:
                logging.warning("%s", error)
        self.status = "closed"
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        return peak

    def _receive(self):
        if not self._connection.poll(self.timeout_s):
            self._process.kill()
            self.status = "failed"
            raise WorkerError(f"{self.name}: the call timed out after {self.timeout_s} s, so the worker was stopped.")
        try:
            return self._connection.recv()
        except EOFError:
            self.status = "failed"
            self._process.join(timeout=5)
            raise WorkerError(
                f"{self.name}: the worker exited with code {self._process.exitcode} "
                "(a code of -9 usually means the kernel stopped it for lack of memory)."
            ) from None


def run_task_calls(name, factory_path, kwargs, calls, settings):
    """Start one worker and run each of `calls` (`{key: (method, args)}`) once, in order.

    Returns `{key: {"status": "ok", "value": result}}`, or for a key whose
    call failed or whose worker was skipped, `{"status": ..., "reason": ...}`.
    Also records the worker's peak memory under the key `"_worker"`.
    """
    worker = Worker(name, factory_path, kwargs, settings.threads, settings.interop_threads)
    try:
        status = worker.start()
    except WorkerError as error:
        failed = {"status": "failed", "reason": last_line(str(error)), "error": str(error)}
        return {key: dict(failed) for key in calls}
    if status == "skipped":
        return {key: {"status": "skipped", "reason": worker.skip_reason} for key in calls}

    results = {}
    try:
        for key, (method, args) in calls.items():
            start = time.perf_counter()
            try:
                value = worker.call(method, *args)
            except WorkerError as error:
                logging.error("%s: %s failed: %s", name, key, error)
                results[key] = _failure(error)
                if worker.status != "ready":
                    break
            else:
                results[key] = {"status": "ok", "value": value, "seconds": time.perf_counter() - start}
    finally:
        peak = worker.close()
    for key in calls:
        results.setdefault(key, {"status": "failed", "reason": "the worker stopped before this call"})
    results["_worker"] = {"peak_rss_mib": None if peak is None else peak / 2**20}
    return results


def last_line(text):
    """Return the last non-empty line of a traceback: the exception and its message."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text


def _failure(error):
    reason = last_line(str(error))
    # A library module that has not been written yet is a skip, not a failure.
    status = "skipped" if reason.startswith(("ModuleNotFoundError", "ImportError")) else "failed"
    return {"status": status, "reason": reason, "error": str(error)}
