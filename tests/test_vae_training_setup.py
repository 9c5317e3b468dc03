import keras
import pytest
import tensorflow as tf

from keras_cartoon.training import precision
from keras_cartoon.training.distribute import get_strategy


@pytest.fixture
def restore_policy():
    policy = keras.mixed_precision.global_policy()
    yield
    keras.mixed_precision.set_global_policy(policy)


@pytest.mark.parametrize("name", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_configure_precision_sets_global_policy(name, restore_policy):
    assert precision.configure_precision(name) == name
    assert keras.mixed_precision.global_policy().name == name


def test_auto_precision_without_gpu_is_bfloat16(restore_policy):
    # conftest hides GPUs from TensorFlow.
    assert not tf.config.list_physical_devices("GPU")

    assert precision.configure_precision("auto") == "mixed_bfloat16"


def test_unknown_precision_raises():
    with pytest.raises(ValueError, match="Received: mixed_precision='float8'"):
        precision.configure_precision("float8")


def test_wrap_optimizer_adds_loss_scaling_only_for_float16(restore_policy):
    precision.configure_precision("mixed_float16")
    wrapped = precision.wrap_optimizer(keras.optimizers.Adam())

    assert isinstance(wrapped, keras.optimizers.LossScaleOptimizer)
    assert precision.wrap_optimizer(wrapped) is wrapped

    precision.configure_precision("mixed_bfloat16")
    assert not isinstance(precision.wrap_optimizer(keras.optimizers.Adam()), keras.optimizers.LossScaleOptimizer)


def test_default_strategy_has_one_replica():
    assert get_strategy("default").num_replicas_in_sync == 1


def test_mirrored_strategy_on_cpu():
    assert get_strategy("mirrored").num_replicas_in_sync == 1


def test_unknown_strategy_raises():
    with pytest.raises(ValueError, match="Received: strategy='horovod'"):
        get_strategy("horovod")


def test_tpu_address_without_tpu_strategy_raises():
    with pytest.raises(ValueError, match="tpu"):
        get_strategy("default", tpu="grpc://10.0.0.1:8470")
