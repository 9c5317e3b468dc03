"""CheckpointStore and fit_resumable with a tiny real VAE: restore, fallback, keep-K, non-finite losses."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cartoon.models import CartoonVAE
from keras_cartoon.training import checkpointing
from keras_cartoon.training.nonfinite import NonFiniteLossError
from keras_cartoon.training.resumable import fit_resumable
from tests.helpers import structured_images

STEPS_PER_EPOCH = 4


def _tiny_vae():
    model = CartoonVAE(image_size=32, encoder_filters=[8] * 4, decoder_filters=[8] * 4, latent_dim=4, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.optimizer.build(model.trainable_variables)
    return model


def _store(model, directory, keep=3):
    trackables = checkpointing.training_trackables(model, {"vae": model.optimizer})
    return checkpointing.CheckpointStore(directory, trackables, keep=keep)


def _dataset(nan_batch=None):
    images = structured_images(2 * STEPS_PER_EPOCH, 32)
    if nan_batch is not None:
        images[2 * nan_batch] = np.nan
    return tf.data.Dataset.from_tensor_slices(images).batch(2)


def _weights(model):
    return [np.array(v.numpy()) for v in model.variables]


class _WeightsAfterStep(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step = step
        self.weights = None

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 == self.step:
            self.weights = _weights(self.model)


def test_restore_returns_every_state(tmp_path):
    model = _tiny_vae()
    store = _store(model, tmp_path)
    fit_resumable(model, _dataset(), epochs=1, steps_per_epoch=STEPS_PER_EPOCH, store=store, verbose=0)
    saved_weights = _weights(model)
    saved_iterations = int(model.optimizer.iterations.numpy())
    seed_state = model.encoder.get_layer("z").seed_generator.state.numpy().copy()

    restored = _tiny_vae()
    state = _store(restored, tmp_path).restore_latest()

    assert (state.epoch, state.step_in_epoch, state.global_step) == (1, 0, STEPS_PER_EPOCH)
    assert list(state.history) == [0]
    assert int(restored.optimizer.iterations.numpy()) == saved_iterations == STEPS_PER_EPOCH
    np.testing.assert_array_equal(restored.encoder.get_layer("z").seed_generator.state.numpy(), seed_state)
    for actual, expected in zip(_weights(restored), saved_weights):
        np.testing.assert_array_equal(actual, expected)
    adam_slots = [v for v in restored.optimizer.variables if "momentum" in v.path]
    assert adam_slots and all(np.any(v.numpy() != 0) for v in adam_slots)


def test_mid_epoch_resume_trains_remaining_steps(tmp_path):
    model = _tiny_vae()
    store = _store(model, tmp_path)
    # One epoch of 4 steps with a checkpoint every 3 steps: the mid-epoch one is step 3 of epoch 0.
    fit_resumable(
        model, _dataset(), epochs=1, steps_per_epoch=STEPS_PER_EPOCH, store=store, checkpoint_every_steps=3, verbose=0
    )
    mid_epoch = [p for p in store.list_checkpoints() if not p.name.endswith("-000000")]
    assert [p.name for p in mid_epoch] == ["ckpt-000000003-0000-000003"]
    # Simulate a kill right after that save.
    for path in store.list_checkpoints():
        if path not in mid_epoch:
            for file in path.iterdir():
                file.unlink()
            path.rmdir()

    resumed = _tiny_vae()
    state = fit_resumable(
        resumed, _dataset(), epochs=2, steps_per_epoch=STEPS_PER_EPOCH, store=_store(resumed, tmp_path), verbose=0
    )

    assert (state.epoch, state.global_step) == (2, 2 * STEPS_PER_EPOCH)
    assert int(resumed.optimizer.iterations.numpy()) == 2 * STEPS_PER_EPOCH
    assert sorted(state.history) == [0, 1]


def test_corrupt_newest_checkpoint_falls_back(tmp_path):
    model = _tiny_vae()
    store = _store(model, tmp_path)
    fit_resumable(model, _dataset(), epochs=1, steps_per_epoch=STEPS_PER_EPOCH, store=store,
                  checkpoint_every_steps=2, verbose=0)
    older, newest = store.list_checkpoints()[-2:]
    data_file = next(newest.glob("state.data-*"))
    data_file.write_bytes(data_file.read_bytes()[:100])

    state = _store(_tiny_vae(), tmp_path).restore_latest()

    assert state.path == older


def test_temporary_folder_is_ignored_and_removed(tmp_path):
    model = _tiny_vae()
    store = _store(model, tmp_path)
    store.save(checkpointing.TrainingState(epoch=1, global_step=4))
    # A kill during saving leaves only a hidden temporary folder.
    partial = tmp_path / ".tmp-ckpt-000000008-0002-000000-999"
    partial.mkdir()
    (partial / "state.index").write_bytes(b"partial")

    state = _store(_tiny_vae(), tmp_path).restore_latest()
    store.delete_temporary()

    assert state.global_step == 4
    assert not partial.exists()


def test_keep_deletes_oldest(tmp_path):
    store = _store(_tiny_vae(), tmp_path, keep=2)
    for step in (1, 2, 3):
        store.save(checkpointing.TrainingState(epoch=0, step_in_epoch=step, global_step=step))

    names = [path.name for path in store.list_checkpoints()]

    assert names == ["ckpt-000000002-0000-000002", "ckpt-000000003-0000-000003"]


def test_other_architecture_raises_clear_error(tmp_path):
    _store(_tiny_vae(), tmp_path).save(checkpointing.TrainingState(epoch=1, global_step=4))
    other = CartoonVAE(image_size=32, encoder_filters=[8] * 4, decoder_filters=[8] * 4, latent_dim=6, seed=0)
    other.compile(optimizer=keras.optimizers.Adam(1e-3))
    other.optimizer.build(other.trainable_variables)

    with pytest.raises(checkpointing.CheckpointMismatchError, match="new --model_dir"):
        _store(other, tmp_path).restore_latest()


def test_nonfinite_loss_keeps_previous_checkpoint(tmp_path):
    model = _tiny_vae()
    store = _store(model, tmp_path)
    weights_after_step_2 = _WeightsAfterStep(2)

    # Batch index 2 (the third step) contains a NaN image.
    with pytest.raises(NonFiniteLossError, match=r"global step 3\).*reconstruction_loss=nan"):
        fit_resumable(model, _dataset(nan_batch=2), epochs=1, steps_per_epoch=STEPS_PER_EPOCH, store=store,
                      checkpoint_every_steps=1, callbacks=[weights_after_step_2], verbose=0)

    assert [p.name for p in store.list_checkpoints()] == [
        "ckpt-000000001-0000-000001",
        "ckpt-000000002-0000-000002",
    ]
    restored = _tiny_vae()
    state = _store(restored, tmp_path).restore_latest()
    assert state.global_step == 2
    assert json.loads((state.path / "metadata.json").read_text())["global_step"] == 2
    for actual, expected in zip(_weights(restored), weights_after_step_2.weights):
        assert np.isfinite(actual).all()
        np.testing.assert_array_equal(actual, expected)
