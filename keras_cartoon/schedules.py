"""Learning-rate schedules."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_cartoon")
class LinearDecaySchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Constant learning rate, then a linear decay to zero (the CycleGAN recipe).

    The rate is `initial_learning_rate` for steps `[0, decay_start_step)`, then
    falls linearly to 0 at `total_steps` and stays there. CycleGAN trains 100
    epochs constant and 100 decaying, i.e. `decay_start_step = total_steps / 2`.
    Steps are optimizer iterations, so the schedule resumes correctly with the
    optimizer state.

    Args:
        initial_learning_rate: float. Rate before the decay.
        total_steps: int. Step at which the rate reaches 0.
        decay_start_step: int. First step of the decay, in `[0, total_steps]`.

    Example:
        schedule = LinearDecaySchedule(2e-4, total_steps=1000, decay_start_step=500)
        optimizer = keras.optimizers.Adam(schedule, beta_1=0.5)
    """

    def __init__(self, initial_learning_rate, total_steps, decay_start_step):
        if initial_learning_rate <= 0:
            raise ValueError(
                f"`initial_learning_rate` must be > 0. Received: initial_learning_rate={initial_learning_rate}"
            )
        if total_steps < 1:
            raise ValueError(f"`total_steps` must be >= 1. Received: total_steps={total_steps}")
        if not 0 <= decay_start_step <= total_steps:
            raise ValueError(
                "`decay_start_step` must be in [0, total_steps]. "
                f"Received: decay_start_step={decay_start_step}, total_steps={total_steps}"
            )
        self.initial_learning_rate = float(initial_learning_rate)
        self.total_steps = int(total_steps)
        self.decay_start_step = int(decay_start_step)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        decay_steps = max(self.total_steps - self.decay_start_step, 1)
        progress = ops.clip((step - self.decay_start_step) / decay_steps, 0.0, 1.0)
        return self.initial_learning_rate * (1.0 - progress)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "total_steps": self.total_steps,
            "decay_start_step": self.decay_start_step,
        }
