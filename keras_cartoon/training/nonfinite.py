"""Stop training at the first NaN or infinite loss, naming the step and the loss term."""

import math

import numpy as np


class NonFiniteLossError(ValueError):
    """A loss term became NaN or infinite; the last saved checkpoint is left as it was."""


def non_finite_terms(logs):
    """Return the names of the values in `logs` that are NaN or infinite, sorted."""
    bad = []
    for name, value in (logs or {}).items():
        try:
            value = float(np.asarray(value))
        except (TypeError, ValueError):
            continue
        if not math.isfinite(value):
            bad.append(name)
    return sorted(bad)


def check_finite(logs, epoch, step_in_epoch, global_step, last_checkpoint=None):
    """Raise `NonFiniteLossError` when a value of `logs` is NaN or infinite.

    The trackers report running means over the epoch, so one non-finite step
    makes them non-finite from that step on, and the first failing check is
    the step that diverged.
    """
    bad = non_finite_terms(logs)
    if not bad:
        return
    values = ", ".join(f"{name}={float(np.asarray(logs[name]))}" for name in bad)
    where = f"epoch {epoch}, step {step_in_epoch} of the epoch (global step {global_step})"
    checkpoint_note = (
        f"The last good checkpoint, {last_checkpoint}, is unchanged; a rerun resumes from it."
        if last_checkpoint
        else "No checkpoint was saved before this step."
    )
    raise NonFiniteLossError(
        f"Training diverged: non-finite loss at {where}: {values}. {checkpoint_note} "
        "Lower --learning_rate, use --mixed_precision=float32, or check the input images."
    )
