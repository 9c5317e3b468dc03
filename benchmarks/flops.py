"""FLOPs per training step, counted three ways, and the machine's measured matmul peak.

1. Analytic: multiply-accumulates of every Conv2d, ConvTranspose2d and Linear
   layer, read from the layer shapes with forward hooks on the PyTorch copies,
   then composed into a training step (forward, weight gradients, input
   gradients) by the formulas below. Two FLOPs per multiply-accumulate.
2. `torch.utils.flop_counter.FlopCounterMode` around one PyTorch training
   step (forward and backward convolutions and matrix products), run on the
   "meta" device, which tracks shapes without computing.
3. TensorFlow's registered per-op FLOP statistics, the numbers that
   `tf.compat.v1.profiler` sums, over the traced graph of the Keras
   `train_step`. The graph also contains gradients that the runtime prunes
   (the input gradient of the first convolution), so it can read slightly
   higher than what runs.

Normalisation, activations, losses and optimizer updates are left out of 1
and 2; they are a few percent of the convolution work in these networks. The
peak is measured, not taken from a datasheet: the best of `matmul_repeats`
float32 square matrix products in NumPy, PyTorch and TensorFlow.
"""

import time

import numpy as np

CONV_AND_MATMUL_OPS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "MatMul", "BatchMatMulV2")


def forward_macs_by_layer(module, example_input):
    """Return `[(layer_name, macs)]` of one forward pass of a PyTorch module, in call order."""
    import torch
    from torch import nn

    records, handles = [], []

    def hook(layer, inputs, output):
        name = layer_names[layer]
        if isinstance(layer, nn.Conv2d):
            kernel_height, kernel_width = layer.kernel_size
            macs = output.numel() * (layer.in_channels // layer.groups) * kernel_height * kernel_width
        elif isinstance(layer, nn.ConvTranspose2d):
            kernel_height, kernel_width = layer.kernel_size
            # Every input element scatters a kernel-sized patch into each output channel.
            macs = inputs[0].numel() * (layer.out_channels // layer.groups) * kernel_height * kernel_width
        else:
            macs = inputs[0].numel() // layer.in_features * layer.in_features * layer.out_features
        records.append((name, int(macs)))

    layer_names = {}
    for name, layer in module.named_modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            layer_names[layer] = name
            handles.append(layer.register_forward_hook(hook))
    try:
        with torch.no_grad():
            module(example_input)
    finally:
        for handle in handles:
            handle.remove()
    return records


def vae_train_flops(layer_macs):
    """FLOPs of one VAE step: forward, weight gradients, and input gradients but the first layer's.

    The first convolution reads the images, which need no gradient.
    """
    forward = sum(macs for _, macs in layer_macs)
    first = layer_macs[0][1]
    return 2 * (3 * forward - first)


def cyclegan_train_flops(generator_macs, discriminator_macs):
    """FLOPs of one CycleGAN step from the forward MACs of one generator and one discriminator.

    Generator update: 6 generator passes (fake, cycled and identity, both
    ways) and 2 discriminator passes on the fakes. Its backward pass takes
    weight gradients of all 6 generator passes. It takes input gradients of
    every layer except the first layer of the 4 generator passes that read
    real images. Through the 2 discriminator passes it takes input gradients
    only. Discriminator update: 4 passes (real and pooled fake, each domain)
    with weight gradients, and input gradients but the first layer's.
    """
    generator = sum(macs for _, macs in generator_macs)
    generator_first = generator_macs[0][1]
    discriminator = sum(macs for _, macs in discriminator_macs)
    discriminator_first = discriminator_macs[0][1]

    generator_update = 6 * generator + 2 * discriminator
    generator_update += 6 * generator + (6 * generator - 4 * generator_first) + 2 * discriminator
    discriminator_update = 4 * discriminator + 4 * discriminator + 4 * (discriminator - discriminator_first)
    return 2 * (generator_update + discriminator_update)


def _best_matmul_gflops(multiply, size, repeats):
    """Return the best GFLOP/s of `repeats` timed calls of `multiply()` on `size` x `size` matrices."""
    multiply()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        multiply()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


class TorchFlopsTask:
    """Worker object: analytic and FlopCounterMode counts on the PyTorch copies, NumPy and PyTorch peaks."""

    def __init__(self, seed=0):
        import torch

        torch.manual_seed(seed)

    def vae(self, image_size, batch_size):
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        from benchmarks import torch_models
        from benchmarks import torch_training

        contender = torch_training.TorchVAEContender(image_size, batch_size)
        contender.to_meta()
        model = contender.model
        layers = forward_macs_by_layer(model.encoder, contender.images)
        features = torch.empty((batch_size, model.z_mean.in_features), device="meta")
        layers += forward_macs_by_layer(model.z_mean, features)
        layers += forward_macs_by_layer(model.z_log_var, features)
        latent = torch.empty((batch_size, model.z_mean.out_features), device="meta")
        layers += forward_macs_by_layer(model.decoder_dense, latent)
        grid = torch.empty((batch_size, model.decoder_filters[0], model.grid_size, model.grid_size), device="meta")
        layers += forward_macs_by_layer(model.decoder, grid)

        counter = FlopCounterMode(display=False)
        with counter:
            contender.step()
        return {
            "batch_size": batch_size,
            "analytic_forward_macs": sum(macs for _, macs in layers),
            "analytic_train_flops": vae_train_flops(layers),
            "torch_counter_train_flops": int(counter.get_total_flops()),
            "parameters": torch_models.count_parameters(model),
        }

    def cyclegan(self, image_size, batch_size, filters, num_residual_blocks):
        from torch.utils.flop_counter import FlopCounterMode

        from benchmarks import torch_training

        contender = torch_training.TorchCycleGANContender(image_size, batch_size, filters, num_residual_blocks)
        contender.to_meta()
        generator_layers = forward_macs_by_layer(contender.generator_a2b, contender.real_a)
        discriminator_layers = forward_macs_by_layer(contender.discriminator_a, contender.real_a)
        counter = FlopCounterMode(display=False)
        with counter:
            contender.step()
        return {
            "batch_size": batch_size,
            "generator_forward_macs": sum(macs for _, macs in generator_layers),
            "discriminator_forward_macs": sum(macs for _, macs in discriminator_layers),
            "analytic_train_flops": cyclegan_train_flops(generator_layers, discriminator_layers),
            "torch_counter_train_flops": int(counter.get_total_flops()),
        }

    def matmul_peak(self, size, repeats):
        import torch

        a = np.random.default_rng(0).random((size, size), dtype=np.float32)
        b = np.random.default_rng(1).random((size, size), dtype=np.float32)
        torch_a, torch_b = torch.from_numpy(a), torch.from_numpy(b)
        return {
            "numpy": _best_matmul_gflops(lambda: a @ b, size, repeats),
            "torch": _best_matmul_gflops(lambda: torch_a @ torch_b, size, repeats),
        }


def _graph_flops(graph):
    """Return (profiler total, {op type: FLOPs}) of a TF graph from the registered statistics."""
    import tensorflow as tf
    from tensorflow.python.framework import ops as tf_ops

    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph, options=options)
    by_type = {}
    for operation in graph.get_operations():
        try:
            statistic = tf_ops.get_stats_for_node_def(graph, operation.node_def, "flops")
        except ValueError:
            # Raised for ops whose shapes are not fully known; none in these static graphs.
            continue
        if statistic.value:
            by_type[operation.type] = by_type.get(operation.type, 0) + int(statistic.value)
    return int(profile.total_float_ops), by_type


class KerasFlopsTask:
    """Worker object: FLOPs of the traced Keras `train_step` graphs, and TensorFlow's matmul peak."""

    def __init__(self, seed=0):
        import keras

        keras.utils.set_random_seed(seed)

    def _count(self, model, data_specs):
        import tensorflow as tf

        concrete = tf.function(model.train_step).get_concrete_function(data_specs)
        total, by_type = _graph_flops(concrete.graph)
        return {
            "tf_profiler_train_flops": total,
            "tf_conv_matmul_train_flops": sum(by_type.get(name, 0) for name in CONV_AND_MATMUL_OPS),
            "tf_flops_by_op_type": by_type,
        }

    def vae(self, image_size, batch_size):
        import keras
        import tensorflow as tf

        from keras_cartoon.models.vae import CartoonVAE

        model = CartoonVAE(image_size=image_size, preset="baseline", seed=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.optimizer.build(model.trainable_variables)
        result = self._count(model, tf.TensorSpec((batch_size, image_size, image_size, 3), tf.float32))
        result["batch_size"] = batch_size
        return result

    def cyclegan(self, image_size, batch_size, filters, num_residual_blocks):
        import tensorflow as tf

        from keras_cartoon.models.cyclegan import CycleGAN

        model = CycleGAN(
            image_size=image_size,
            num_residual_blocks=num_residual_blocks,
            generator_filters=filters,
            discriminator_filters=filters,
        )
        model.compile()
        spec = tf.TensorSpec((batch_size, image_size, image_size, 3), tf.float32)
        result = self._count(model, (spec, spec))
        result["batch_size"] = batch_size
        return result

    def matmul_peak(self, size, repeats):
        import tensorflow as tf

        a = tf.random.uniform((size, size), seed=0)
        b = tf.random.uniform((size, size), seed=1)
        return {"tensorflow": _best_matmul_gflops(lambda: tf.matmul(a, b).numpy(), size, repeats)}


def run_flops(settings):
    """Count FLOPs per training step of each benchmarked model and measure the matmul peak.

    Runs in the parent; the counting happens in two workers (PyTorch, TensorFlow).
    """
    from benchmarks.workers import run_task_calls

    vae_args = (settings.vae_image_size, settings.vae_batch_size)
    cyclegan_args = [
        (settings.cyclegan_image_size, batch_size, settings.cyclegan_filters, settings.cyclegan_residual_blocks)
        for batch_size in settings.cyclegan_batch_sizes
    ]
    peak_args = (settings.matmul_size, settings.matmul_repeats)
    calls = {"vae": ("vae", vae_args), "peak": ("matmul_peak", peak_args)}
    for args in cyclegan_args:
        calls[f"cyclegan_batch_{args[1]}"] = ("cyclegan", args)

    torch_results = run_task_calls("flops_torch", "benchmarks.flops:TorchFlopsTask", {}, calls, settings)
    keras_results = run_task_calls("flops_keras", "benchmarks.flops:KerasFlopsTask", {}, calls, settings)

    models = {}
    for key in calls:
        if key == "peak":
            continue
        models[key] = {"torch": torch_results[key], "keras": keras_results[key]}
    peak = {}
    for results in (torch_results["peak"], keras_results["peak"]):
        if results.get("status") == "ok":
            peak.update(results["value"])
    return {
        "status": "ok",
        "models": models,
        "matmul_gflops": peak,
        "matmul_size": settings.matmul_size,
        "peak_gflops": max(peak.values()) if peak else None,
    }
