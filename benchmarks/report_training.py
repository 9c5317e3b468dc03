"""BENCHMARKS.md sections about training: throughput tables, peak memory, FLOPs and achieved GFLOP/s."""

from benchmarks import stats
from benchmarks.report_format import iqr
from benchmarks.report_format import median
from benchmarks.report_format import median_rate
from benchmarks.report_format import number
from benchmarks.report_format import ratio_text
from benchmarks.report_format import selected_section
from benchmarks.report_format import skip_line
from benchmarks.report_format import spread
from benchmarks.report_format import table


def _training_table(contenders, reference="torch"):
    reference_rate = median_rate(contenders, reference)
    rows = []
    for name, result in contenders.items():
        if result["status"] != "ok":
            rows.append([name, skip_line(result), "", "", "", "", ""])
            continue
        summary = result["images_per_s"]
        warmup = result.get("warmup_step_s") or [None]
        rows.append(
            [
                f"`{name}`",
                number(summary["median"]),
                spread(summary),
                iqr(summary),
                ratio_text(stats.ratio(summary["median"], reference_rate)),
                number(result.get("peak_rss_mib"), 0),
                number(warmup[0], 2),
            ]
        )
    header = ["contender", "images/s (median)", "min to max", "IQR", f"vs `{reference}`", "peak RSS MiB", "first step s"]
    return table(header, rows)


def vae_section(section):
    lines = ["## 1. VAE training throughput", ""]
    if section.get("status") != "ok":
        return "\n".join(lines + [skip_line(section)])
    lines += [
        f"`baseline` preset, {section['image_size']}x{section['image_size']} images, batch "
        f"{section['batch_size']}, Adam(1e-3), sum of squared error + KL. {section['warmup_steps']} warm-up steps, "
        f"then {section['repetitions']} repetitions of {section['steps_per_repetition']} steps, contenders "
        "alternated; images/s per repetition. `keras` is `CartoonVAE` with `jit_compile=False` (the Keras "
        "default on CPU), `keras_xla` with `jit_compile=True`. `torch` is the same network written in PyTorch "
        "(`benchmarks/torch_models.py`), `torch_channels_last` the same with NHWC memory format.",
        "",
        _training_table(section["contenders"]),
        "",
        _parameter_check(section["contenders"]),
    ]
    return "\n".join(lines)


def _parameter_check(contenders):
    counts = {name: result.get("model", {}).get("parameters") for name, result in contenders.items() if result.get("status") == "ok"}
    counts = {name: count for name, count in counts.items() if count is not None}
    if not counts:
        return ""
    same = len(set(counts.values())) == 1
    listed = ", ".join(f"`{name}` {count:,}" for name, count in counts.items())
    return f"Trainable parameters: {listed} ({'equal' if same else '**not equal**'})."


def cyclegan_section(section):
    lines = ["## 2. CycleGAN training throughput", ""]
    if section.get("status") != "ok":
        return "\n".join(lines + [skip_line(section)])
    blocks = section["residual_blocks"] if section["residual_blocks"] is not None else "default (6 below 256x256)"
    lines += [
        f"ResNet generators ({blocks} residual blocks, {section['filters']} filters), 70x70 PatchGAN, LSGAN, "
        f"cycle 10, identity 5, history pool 50, Adam(2e-4, beta_1=0.5), {section['image_size']}x"
        f"{section['image_size']}. {section['warmup_steps']} warm-up steps, {section['repetitions']} "
        f"repetitions of {section['steps_per_repetition']} steps. One step updates both generators and both "
        "discriminators; images/s counts domain-A images.",
        "",
    ]
    for batch, contenders in section["batches"].items():
        lines += [f"Batch {batch}:", "", _training_table(contenders), ""]
        generator_counts = {
            name: result.get("model", {}).get("generator_parameters")
            for name, result in contenders.items()
            if result.get("status") == "ok"
        }
        if generator_counts:
            listed = ", ".join(f"`{name}` {count:,}" for name, count in generator_counts.items())
            lines += [f"Generator parameters: {listed}.", ""]
    return "\n".join(lines)


def memory_section(results):
    rows = []
    sections = results["sections"]
    if sections.get("vae", {}).get("status") == "ok":
        for name, result in sections["vae"]["contenders"].items():
            if result["status"] == "ok":
                rows.append([f"VAE `{name}`", number(result.get("rss_after_setup_mib"), 0), number(result.get("peak_rss_mib"), 0)])
    if sections.get("cyclegan", {}).get("status") == "ok":
        for batch, contenders in sections["cyclegan"]["batches"].items():
            for name, result in contenders.items():
                if result["status"] == "ok":
                    rows.append([f"CycleGAN batch {batch} `{name}`", number(result.get("rss_after_setup_mib"), 0), number(result.get("peak_rss_mib"), 0)])
    lines = ["## 5. Peak resident memory of each training run", ""]
    if not rows:
        return "\n".join(lines + ["No training section was measured."])
    lines += [
        "Each contender runs in its own child process; the peak is the kernel's high-water mark of resident "
        "memory (`VmHWM`), covering imports, model building, warm-up and every timed step. The RSS after "
        "setup is read right after the model is built, before the first step, and includes the framework itself.",
        "",
        table(["run", "RSS after setup MiB", "peak RSS MiB"], rows),
    ]
    return "\n".join(lines)


def _achieved_rows(model_label, flops_per_step, contenders, peak):
    rows = []
    for name, result in contenders.items():
        rate = median(result.get("images_per_s")) if result.get("status") == "ok" else None
        if rate is None or not flops_per_step:
            continue
        achieved = flops_per_step * rate / result["batch_size"] / 1e9
        rows.append([model_label, f"`{name}`", number(achieved), ratio_text(None) if not peak else f"{100 * achieved / peak:.1f}%"])
    return rows


def _ok_value(counts):
    return counts.get("value", {}) if counts.get("status") == "ok" else {}


def _gflop_text(value):
    return number(value / 1e9 if value else None, 2)


def _flop_count_rows(section):
    rows = []
    for key, counts in section["models"].items():
        torch_value, keras_value = _ok_value(counts["torch"]), _ok_value(counts["keras"])
        rows.append(
            [
                key,
                torch_value.get("batch_size") or keras_value.get("batch_size"),
                _gflop_text(torch_value.get("analytic_train_flops")),
                _gflop_text(torch_value.get("torch_counter_train_flops")),
                _gflop_text(keras_value.get("tf_conv_matmul_train_flops")),
                _gflop_text(keras_value.get("tf_profiler_train_flops")),
            ]
        )
    return rows


def _achieved_table_rows(results, section):
    """Pair each model's analytic FLOPs with the training throughput measured for it."""
    peak = section["peak_gflops"]
    vae, cyclegan = selected_section(results, "vae"), selected_section(results, "cyclegan")
    rows = []
    for key, counts in section["models"].items():
        analytic = _ok_value(counts["torch"]).get("analytic_train_flops")
        if key == "vae" and vae.get("status") == "ok":
            rows += _achieved_rows("VAE", analytic, vae["contenders"], peak)
        elif key.startswith("cyclegan_batch_") and cyclegan.get("status") == "ok":
            batch = key.removeprefix("cyclegan_batch_")
            rows += _achieved_rows(f"CycleGAN batch {batch}", analytic, cyclegan["batches"].get(batch, {}), peak)
    return rows


def flops_section(results):
    section = selected_section(results, "flops")
    lines = ["## 6. FLOPs per training step and achieved GFLOP/s", ""]
    if section.get("status") != "ok":
        return "\n".join(lines + [skip_line(section)])

    peak_text = ", ".join(f"{name} {value:.1f}" for name, value in section["matmul_gflops"].items())
    lines += [
        "FLOPs are counted, not guessed, three ways (`benchmarks/flops.py`): analytic multiply-accumulates "
        "of every convolution and dense layer from the layer shapes, composed into forward + weight gradients + "
        "input gradients; PyTorch's `FlopCounterMode` around one training step (on the shape-only `meta` device); and TensorFlow's registered op "
        "statistics (what `tf.compat.v1.profiler` sums) over the traced Keras `train_step` graph, both all ops and "
        "convolutions + matrix products only. 1 multiply-accumulate = 2 FLOPs.",
        "",
        f"Peak: **measured**, the best float32 {section['matmul_size']}x{section['matmul_size']} matrix product "
        f"in GFLOP/s on this machine with the benchmark's threads ({peak_text}). The peak used below is "
        f"{number(section['peak_gflops'])} GFLOP/s.",
        "",
    ]

    header = ["model", "batch", "analytic GFLOP/step", "torch counter", "TF graph conv+matmul", "TF graph all ops"]
    lines += [table(header, _flop_count_rows(section)), ""]

    achieved_rows = _achieved_table_rows(results, section)
    if achieved_rows:
        lines += [
            "Achieved rate = analytic FLOPs per step x measured steps/s:",
            "",
            table(["model", "contender", "achieved GFLOP/s", "of measured peak"], achieved_rows),
        ]
    return "\n".join(lines)
