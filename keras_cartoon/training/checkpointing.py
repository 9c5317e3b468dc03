"""Training checkpoints that survive a kill: atomic directories, keep-K, verified restore.

Layout under `directory` (one folder per checkpoint):

    ckpt-000000120-0003-000000/   global step 120, start of epoch 3
        state.index, state.data-00000-of-00001   (tf.train.Checkpoint)
        metadata.json                            (epoch, steps, history)

A checkpoint is written into a hidden `.tmp-*` folder, flushed to disk, and
renamed into place with `os.rename`, which is atomic on POSIX within one file
system. A kill during saving therefore leaves either no new folder or a
complete one, and never touches the newest good checkpoint. `restore_latest`
still verifies what it reads and falls back to the previous checkpoint when the
newest one is unreadable (for example after a disk error).
"""

import dataclasses
import json
import os
import pathlib
import re
import shutil

import numpy as np
import tensorflow as tf
from absl import logging

from keras_cartoon.io_utils import write_text_atomic

METADATA_FILENAME = "metadata.json"
STATE_PREFIX = "state"
FORMAT_VERSION = 1
_NAME = re.compile(r"^ckpt-(\d{9})-(\d{4})-(\d{6})$")


@dataclasses.dataclass
class TrainingState:
    """Position of a run: the next step to run is step `step_in_epoch` of epoch `epoch` (0-based).

    Attributes:
        epoch: epoch in progress, or the next one when `step_in_epoch` is 0.
        step_in_epoch: batches of `epoch` already trained.
        global_step: batches trained since the run began.
        history: `{epoch: {metric: value}}` of every completed epoch.
        path: folder the state was restored from, or `None` for a new run.
    """

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    history: dict = dataclasses.field(default_factory=dict)
    path: pathlib.Path | None = None


class CheckpointMismatchError(ValueError):
    """The checkpoints in a folder were written by a different model or optimizer setup."""


def indexed_variables(variables):
    """Key variables by position, so a checkpoint does not depend on auto-generated names.

    A second model built in one process gets layer and optimizer names with a
    suffix (`adam_1`), so names are not stable keys. The order of
    `model.variables` and `optimizer.variables` is fixed by the architecture;
    a different architecture fails the restore on count or shape.
    """
    return {f"{index:04d}": variable for index, variable in enumerate(variables)}


def checkpoint_name(state):
    return f"ckpt-{state.global_step:09d}-{state.epoch:04d}-{state.step_in_epoch:06d}"


def _fsync(path):
    """Flush a file or folder to disk, so a rename never points at unwritten data after a power loss."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CheckpointStore:
    """Save and restore every piece of training state in `directory`.

    Args:
        directory: folder of the checkpoints, created when the first one is saved.
        trackables: dict of name -> `tf.train.Checkpoint`-compatible object
            (variables, dicts of variables, `tf.random.Generator`). Build
            optimizers before creating the store, so their slots exist.
        keep: int. Newest checkpoints kept; older ones are deleted after a
            save succeeds. Defaults to `3`.
        restore_directory: folder to restore from, when it differs from
            `directory` (a non-chief worker writes to its own folder but
            restores the chief's). Defaults to `directory`.
    """

    def __init__(self, directory, trackables, keep=3, restore_directory=None):
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"`keep_checkpoints` must be an integer >= 1. Received: keep_checkpoints={keep!r}")
        self.directory = pathlib.Path(directory)
        self.restore_directory = pathlib.Path(restore_directory or directory)
        self.keep = keep
        self.checkpoint = tf.train.Checkpoint(**trackables)

    def list_checkpoints(self, directory=None):
        """Return complete checkpoint folders, oldest first."""
        directory = pathlib.Path(directory or self.directory)
        if not directory.is_dir():
            return []
        found = []
        for path in directory.iterdir():
            match = _NAME.match(path.name)
            if match and path.is_dir():
                found.append((tuple(int(g) for g in match.groups()), path))
        return [path for _, path in sorted(found)]

    def save(self, state):
        """Write `state` and every trackable as a new checkpoint folder; return its path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        final_path = self.directory / checkpoint_name(state)
        temp_path = self.directory / f".tmp-{final_path.name}-{os.getpid()}"
        shutil.rmtree(temp_path, ignore_errors=True)
        temp_path.mkdir()
        try:
            self.checkpoint.write(str(temp_path / STATE_PREFIX))
            metadata = {
                "format_version": FORMAT_VERSION,
                "epoch": state.epoch,
                "step_in_epoch": state.step_in_epoch,
                "global_step": state.global_step,
                "history": {str(epoch): row for epoch, row in sorted(state.history.items())},
            }
            # The metadata file is written last: a folder without it is incomplete.
            write_text_atomic(temp_path / METADATA_FILENAME, json.dumps(metadata, indent=1, allow_nan=True) + "\n")
            for file_path in temp_path.iterdir():
                _fsync(file_path)
            _fsync(temp_path)
            if final_path.exists():
                # Reached again after a fallback restore: the old folder is the unreadable one.
                shutil.rmtree(final_path)
            os.rename(temp_path, final_path)
            _fsync(self.directory)
        except BaseException:
            shutil.rmtree(temp_path, ignore_errors=True)
            raise
        logging.info("Saved checkpoint %s", final_path)
        self._delete_old()
        return final_path

    def _delete_old(self):
        for path in self.list_checkpoints()[: -self.keep]:
            shutil.rmtree(path, ignore_errors=True)
            logging.info("Deleted old checkpoint %s (keeping %d).", path, self.keep)

    def delete_temporary(self):
        """Remove `.tmp-*` folders left by a process killed while saving."""
        if not self.directory.is_dir():
            return
        for path in self.directory.glob(".tmp-ckpt-*"):
            shutil.rmtree(path, ignore_errors=True)
            logging.info("Removed the incomplete checkpoint %s.", path)

    def restore_latest(self, max_global_step=None):
        """Restore the newest readable checkpoint; return its `TrainingState`, or `None` when there is none.

        A folder whose metadata or tensors cannot be read is skipped with a
        warning, and the next older one is tried.

        Raises:
            CheckpointMismatchError: a readable checkpoint does not match the
                variables of this run (another model size or optimizer).
        """
        candidates = self.list_checkpoints(self.restore_directory)
        for path in reversed(candidates):
            try:
                metadata = json.loads((path / METADATA_FILENAME).read_text(encoding="utf-8"))
                state = TrainingState(
                    epoch=int(metadata["epoch"]),
                    step_in_epoch=int(metadata["step_in_epoch"]),
                    global_step=int(metadata["global_step"]),
                    history={int(epoch): row for epoch, row in metadata["history"].items()},
                    path=path,
                )
            except (OSError, ValueError, KeyError, TypeError) as error:
                logging.warning("Skipping checkpoint %s: its metadata is unreadable (%s).", path, error)
                continue
            if max_global_step is not None and state.global_step > max_global_step:
                continue
            try:
                status = self.checkpoint.read(str(path / STATE_PREFIX))
                status.assert_consumed()
            except AssertionError as error:
                raise CheckpointMismatchError(
                    f"Checkpoint {path} does not match this model and optimizer (a different "
                    "architecture, image size or optimizer was used). Use a new --model_dir, or "
                    f"delete {path.parent} to start over. Details: {str(error)[:500]}"
                ) from error
            except ValueError as error:
                if "shape" in str(error).lower():
                    raise CheckpointMismatchError(
                        f"Checkpoint {path} has variables of other shapes than this model. Use a new "
                        f"--model_dir, or delete {path.parent} to start over. Details: {error}"
                    ) from error
                logging.warning("Skipping checkpoint %s: it is unreadable (%s).", path, error)
                continue
            except (tf.errors.OpError, IndexError, OSError) as error:
                # A truncated data file raises IndexError ("Read less bytes than requested") in TF 2.21.
                logging.warning("Skipping checkpoint %s: it is unreadable (%s: %s).", path, type(error).__name__, error)
                continue
            logging.info(
                "Restored checkpoint %s: epoch %d, step %d of the epoch, global step %d.",
                path,
                state.epoch,
                state.step_in_epoch,
                state.global_step,
            )
            return state
        if candidates:
            logging.warning("No readable checkpoint in %s; starting from scratch.", self.restore_directory)
        return None


def all_finite(variables):
    """Return True when every float variable is free of NaN and infinity."""
    for variable in variables:
        value = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            return False
    return True


def training_trackables(model, optimizers, extra=None):
    """Collect everything a resumed run needs into `CheckpointStore` trackables.

    Args:
        model: a built `keras.Model`. Its `variables` cover the weights, the
            BatchNormalization statistics and the `keras.random.SeedGenerator`
            states; its `metrics` give the running loss means of the epoch.
        optimizers: dict of name -> built optimizer. Each optimizer's
            variables hold its slots, its `iterations` (the position of any
            learning-rate schedule) and, for a `LossScaleOptimizer`, the
            current loss scale.
        extra: dict of more trackables, for example history pool variables.
    """
    trackables = {
        "model": indexed_variables(model.variables),
        "metrics": indexed_variables([v for metric in model.metrics for v in metric.variables]),
        "global_generator": tf.random.get_global_generator(),
    }
    for name, optimizer in optimizers.items():
        if not optimizer.built:
            raise ValueError(f"Optimizer {name!r} must be built before checkpointing. Call optimizer.build(variables).")
        trackables[f"optimizer_{name}"] = indexed_variables(optimizer.variables)
    trackables.update(extra or {})
    return trackables
