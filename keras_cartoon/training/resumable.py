"""`fit` that checkpoints every epoch and every N steps, resumes, and saves on SIGTERM.

Resume rule: a run restarted with the same command restores the newest
checkpoint. From an epoch-end checkpoint it starts the next epoch. From a
mid-epoch checkpoint (step `s` of epoch `e`) it restores the weights, the
optimizers, the RNG states and the epoch's running loss means. It then trains
the remaining `steps_per_epoch - s` steps of epoch `e`, then the later epochs.
The number of optimizer steps equals that of an uninterrupted run, and
history.csv gets each epoch exactly once.

NOTE: the input pipeline is not checkpointed. The resumed part of an epoch
draws a fresh shuffle, so some images of that epoch may be seen twice and
others not at all.
"""

import contextlib
import signal
import threading

import keras
import numpy as np
from absl import logging

from keras_cartoon.training.checkpointing import TrainingState
from keras_cartoon.training.checkpointing import all_finite
from keras_cartoon.training.nonfinite import check_finite

# Exit status of a run stopped by SIGTERM after saving (128 + signal number, as shells report it).
PREEMPTED_EXIT_CODE = 128 + signal.SIGTERM


class TrainingPreempted(Exception):
    """SIGTERM stopped training after a checkpoint was saved; rerun the same command to resume."""


class ResumableTraining(keras.callbacks.Callback):
    """Checkpoint at epoch ends and every `checkpoint_every_steps` steps; stop cleanly on SIGTERM.

    The non-finite check runs before every save, so a checkpoint never contains
    the weights of a step whose losses were NaN or infinite.

    Args:
        store: a `CheckpointStore`, or `None` to check losses only.
        state: the `TrainingState` the run starts from.
        steps_per_epoch: int. Batches in a full epoch.
        checkpoint_every_steps: int or `None`. Save mid-epoch every this many
            global steps; `None` saves at epoch ends only.
        watched_variables: variables that must be finite before a save.
        before_save: callable run before every save, or `None`.
    """

    def __init__(
        self, store, state, steps_per_epoch, checkpoint_every_steps=None, watched_variables=(), before_save=None
    ):
        super().__init__()
        self.before_save = before_save
        self.store = store
        self.state = state
        self.steps_per_epoch = steps_per_epoch
        self.checkpoint_every_steps = checkpoint_every_steps
        self.watched_variables = list(watched_variables)
        self.last_checkpoint = state.path
        self.preempt_requested = threading.Event()
        # Step offset of the first epoch of the next fit call (resumed mid-epoch).
        self.step_offset = state.step_in_epoch
        self._tracker_values = None

    def remember_tracker_values(self):
        """Copy the restored running means, which `fit` resets before the resumed epoch begins."""
        self._tracker_values = [
            [np.asarray(v.numpy()) for v in metric.variables] for metric in self.model.metrics
        ]

    def on_epoch_begin(self, epoch, logs=None):
        self.state.epoch = epoch
        self.state.step_in_epoch = self.step_offset
        if self._tracker_values is not None and self.step_offset:
            for metric, values in zip(self.model.metrics, self._tracker_values):
                for variable, value in zip(metric.variables, values):
                    variable.assign(value)
        self._tracker_values = None
        self.step_offset = 0

    def on_train_batch_end(self, batch, logs=None):
        self.state.step_in_epoch += 1
        self.state.global_step += 1
        check_finite(logs, self.state.epoch, self.state.step_in_epoch, self.state.global_step, self.last_checkpoint)

        last_batch = self.state.step_in_epoch >= self.steps_per_epoch
        if self.preempt_requested.is_set() and not last_batch:
            # At the last batch the epoch-end save follows at once, so it serves instead.
            self._save()
            raise TrainingPreempted(self._preempted_message())
        every = self.checkpoint_every_steps
        if every and self.state.global_step % every == 0 and not last_batch:
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        logs = {key: float(np.asarray(value)) for key, value in (logs or {}).items()}
        training_logs = {key: value for key, value in logs.items() if not key.startswith("val_")}
        check_finite(training_logs, epoch, self.state.step_in_epoch, self.state.global_step, self.last_checkpoint)
        self.state.history[epoch] = logs
        self.state.epoch = epoch + 1
        self.state.step_in_epoch = 0
        self._save()
        if self.preempt_requested.is_set():
            raise TrainingPreempted(self._preempted_message())

    def _save(self):
        if self.store is None:
            return
        if self.before_save is not None:
            self.before_save()
        if not all_finite(self.watched_variables):
            raise ValueError(
                f"Checkpoint not saved at global step {self.state.global_step}: the weights contain NaN "
                f"or infinity. The last good checkpoint, {self.last_checkpoint}, is unchanged. "
                "Lower --learning_rate and resume."
            )
        self.last_checkpoint = self.store.save(self.state)

    def _preempted_message(self):
        return (
            f"Stopped by SIGTERM at epoch {self.state.epoch}, step {self.state.step_in_epoch} of the epoch "
            f"(global step {self.state.global_step}); saved {self.last_checkpoint}. "
            "Rerun the same command to resume."
        )


@contextlib.contextmanager
def sigterm_sets(event):
    """Make SIGTERM set `event` (checked at the next batch end) instead of killing the process."""
    if threading.current_thread() is not threading.main_thread():
        # Python installs signal handlers only from the main thread.
        logging.warning("Not in the main thread: SIGTERM will stop training without a checkpoint.")
        yield
        return

    def handle(signum, frame):
        logging.warning("Received SIGTERM: saving a checkpoint at the end of this step, then stopping.")
        event.set()

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def fit_resumable(
    model,
    dataset,
    epochs,
    steps_per_epoch,
    store=None,
    checkpoint_every_steps=None,
    fixed_steps_per_epoch=False,
    callbacks=(),
    on_restore=None,
    before_save=None,
    **fit_kwargs,
):
    """Run `model.fit` from the newest checkpoint in `store` to `epochs`; return the final `TrainingState`.

    Args:
        model: a compiled `keras.Model` whose optimizers are built.
        dataset: training data for `fit`. An infinite dataset needs
            `fixed_steps_per_epoch=True`.
        epochs: int. Total epochs of the run, resumed ones included.
        steps_per_epoch: int. Batches in a full epoch.
        store: a `CheckpointStore`, or `None` to train without checkpoints.
        checkpoint_every_steps: int or `None`. Mid-epoch checkpoint period.
        fixed_steps_per_epoch: pass `steps_per_epoch` to every `fit` call.
            Otherwise full epochs end when a finite `dataset` runs out.
        callbacks: more Keras callbacks; they run before the checkpoint callback.
        on_restore: called with the restored `TrainingState` (or a new one)
            before training, for example to rewrite history.csv.
        before_save: called before every checkpoint and once after training,
            for example `distribute.average_non_trainable`.
        **fit_kwargs: passed to `fit` (`validation_data`, `verbose`, ...).

    Raises:
        TrainingPreempted: SIGTERM arrived; a checkpoint was saved first.
        NonFiniteLossError: a loss became NaN or infinite.
    """
    state = (store.restore_latest() if store is not None else None) or TrainingState()
    if on_restore is not None:
        on_restore(state)
    if state.epoch >= epochs:
        logging.info("The checkpoint is at epoch %d of %d: nothing left to train.", state.epoch, epochs)
        return state

    resumer = ResumableTraining(
        store,
        state,
        steps_per_epoch,
        checkpoint_every_steps,
        watched_variables=model.trainable_variables,
        before_save=before_save,
    )
    callbacks = [*callbacks, resumer]
    with sigterm_sets(resumer.preempt_requested):
        if state.step_in_epoch > 0:
            remaining = steps_per_epoch - state.step_in_epoch
            logging.info(
                "Resuming epoch %d at step %d: training its remaining %d steps.",
                state.epoch,
                state.step_in_epoch,
                remaining,
            )
            resumer.set_model(model)
            resumer.remember_tracker_values()
            model.fit(
                dataset,
                initial_epoch=state.epoch,
                epochs=state.epoch + 1,
                steps_per_epoch=remaining,
                callbacks=callbacks,
                **fit_kwargs,
            )
        if state.epoch < epochs:
            model.fit(
                dataset,
                initial_epoch=state.epoch,
                epochs=epochs,
                steps_per_epoch=steps_per_epoch if fixed_steps_per_epoch else None,
                callbacks=callbacks,
                **fit_kwargs,
            )
    if before_save is not None:
        before_save()
    return state
