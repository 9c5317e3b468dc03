"""KL weight (beta) schedules for the VAE, as functions of the optimizer step.

The model reads the step from `optimizer.iterations`, which is saved with the
optimizer, so a resumed run continues the schedule where it stopped.
"""

from keras import ops

KL_SCHEDULES = ("constant", "linear", "cyclical")


def kl_weight_at(step, kl_weight=1.0, schedule="constant", warmup_steps=1000):
    """Compute the KL weight at optimizer step `step`.

    Args:
        step: int or integer tensor. Optimizer updates applied so far.
        kl_weight: float. The final (or constant) weight, beta. Defaults to `1.0`.
        schedule: str. `"constant"`: `kl_weight` from step 0. `"linear"`: rise
            linearly from 0 to `kl_weight` over `warmup_steps`, then stay
            (Bowman et al., 2016). `"cyclical"`: repeat cycles of
            `2 * warmup_steps` steps, rising linearly over the first half
            and holding `kl_weight` over the second (Fu et al., 2019).
            Defaults to `"constant"`.
        warmup_steps: int. Steps of each linear rise. With 0, every schedule
            is constant. Defaults to `1000`.

    Returns:
        float32 scalar tensor.
    """
    validate_kl_schedule(kl_weight, schedule, warmup_steps)
    kl_weight = ops.cast(kl_weight, "float32")
    if schedule == "constant" or warmup_steps == 0:
        return kl_weight

    step = ops.cast(step, "float32")
    if schedule == "linear":
        return kl_weight * ops.minimum(step / warmup_steps, 1.0)

    # Cyclical: position inside the current cycle of 2 * warmup_steps steps.
    position = ops.mod(step, 2.0 * warmup_steps)
    return kl_weight * ops.minimum(position / warmup_steps, 1.0)


def validate_kl_schedule(kl_weight, schedule, warmup_steps):
    """Raise `ValueError` naming the argument when a KL schedule setting is invalid."""
    if schedule not in KL_SCHEDULES:
        raise ValueError(f"`kl_schedule` must be one of {list(KL_SCHEDULES)}. Received: kl_schedule={schedule!r}")
    if not kl_weight >= 0:
        raise ValueError(f"`kl_weight` must be >= 0. Received: kl_weight={kl_weight}")
    if int(warmup_steps) != warmup_steps or warmup_steps < 0:
        raise ValueError(f"`kl_warmup_steps` must be an integer >= 0. Received: kl_warmup_steps={warmup_steps}")
