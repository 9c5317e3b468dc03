"""Write BENCHMARKS.md from the results dict that `benchmarks.run` also stores as JSON."""

import pathlib

from benchmarks import report_training
from benchmarks import stats
from benchmarks.report_format import median
from benchmarks.report_format import median_rate
from benchmarks.report_format import met
from benchmarks.report_format import number
from benchmarks.report_format import ratio_text
from benchmarks.report_format import selected_section
from benchmarks.report_format import skip_line
from benchmarks.report_format import spread
from benchmarks.report_format import table

NOTES_PATH = pathlib.Path(__file__).with_name("tuning_notes.md")
CANONICAL_COMMAND = ".venv/bin/python -m benchmarks.run"

# Speed targets of keras_cartoon, reported in BENCHMARKS.md and never asserted.
VAE_TARGET_RATIO = 1.5
CYCLEGAN_TARGET_RATIO = 1.0
PIPELINE_TARGET_RATIO = 10.0
DECODER_TARGET_MS = 0.5
QUICK_TARGET_S = 300.0


def _machine_section(results):
    machine = results["machine"]
    settings = results["settings"]
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items() if version)
    load_start, load_end = machine.get("load_average_at_start"), results.get("load_average_at_end")
    lines = [
        "## Machine",
        "",
        f"- CPU: {machine['cpu_model']}, {machine['logical_cores']} logical cores "
        f"({machine['physical_cores']} physical), flags {', '.join(machine['cpu_flags']) or 'none listed'}",
        f"- Memory: {machine['memory_gib']} GiB; OS: {machine['os']}; Python {machine['python']}",
        f"- Packages: {packages}",
        f"- Threads, equal for every contender: {settings['threads']} intra-op and "
        f"{settings['interop_threads']} inter-op threads in TensorFlow (`tf.config.threading`) and PyTorch "
        f"(`torch.set_num_threads`, `torch.set_num_interop_threads`); `OMP_NUM_THREADS`, "
        f"`OPENBLAS_NUM_THREADS` and `MKL_NUM_THREADS` = {settings['threads']}; LiteRT `num_threads` = "
        f"{settings['threads']}.",
        f"- Load average (1, 5, 15 min) at start: {load_start}; at end: {load_end}.",
    ]
    cores = machine["logical_cores"] or 1
    # Only the load at the start counts: during the run the benchmark's own
    # worker keeps every core busy, so the load at the end is always high.
    if load_start and load_start[0] > 0.5 * cores:
        lines.append(
            "- **The machine was busy with other processes during this run**, so absolute numbers are "
            "low and noisy. PyTorch's 2-thread OpenMP pool slows down far more than TensorFlow's under "
            "contention, so `keras`/`torch` ratios from this run overstate the Keras lead. Rerun on a quiet "
            "machine before comparing."
        )
    return "\n".join(lines)


def _targets_section(results):
    sections = results["sections"]
    rows = []

    vae = sections.get("vae", {})
    if vae.get("status") == "ok":
        contenders = vae["contenders"]
        torch_rate = median_rate(contenders, "torch")
        for name in ("keras", "keras_xla", "keras_fused_bn"):
            value = stats.ratio(median_rate(contenders, name), torch_rate)
            if name in contenders:
                passed = value is not None and value >= VAE_TARGET_RATIO
                rows.append([f"VAE training, `{name}` / `torch`", f">= {VAE_TARGET_RATIO}x", ratio_text(value), met(value, passed)])

    cyclegan = sections.get("cyclegan", {})
    if cyclegan.get("status") == "ok":
        for batch, contenders in cyclegan["batches"].items():
            value = stats.ratio(median_rate(contenders, "keras"), median_rate(contenders, "torch"))
            passed = value is not None and value >= CYCLEGAN_TARGET_RATIO
            rows.append([f"CycleGAN training batch {batch}, `keras` / `torch`", f">= {CYCLEGAN_TARGET_RATIO}x", ratio_text(value), met(value, passed)])

    pipeline = sections.get("pipeline", {})
    if pipeline.get("status") == "ok":
        value = stats.ratio(median(pipeline["cached_epoch_images_per_s"]), _vae_training_rate(vae, pipeline))
        rows.append(["Cached pipeline / `keras` VAE training rate", f">= {PIPELINE_TARGET_RATIO}x", ratio_text(value), met(value, value is not None and value >= PIPELINE_TARGET_RATIO)])
        training = pipeline["training"]
        waits = training["later_epoch_waits"]
        measured = (
            f"{waits} of {training['later_epoch_steps']} steps "
            f"({training['later_epoch_waits_at_epoch_start']} at an epoch start)"
        )
        rows.append(["Training waits for data after epoch 1", "never", measured, met(waits, waits == 0)])

    inference = sections.get("inference", {})
    if inference.get("status") == "ok":
        for part, label in (("decoder", "Decoder with transposed convolutions"), ("decoder_subpixel", "Decoder with sub-pixel convolutions (what `python -m export` writes)")):
            latency = inference["contenders"].get(f"{part}/float32", {}).get("latency_ms")
            if latency is None:
                continue
            value = median(latency)
            passed = value is not None and value < DECODER_TARGET_MS
            rows.append([f"{label} TFLite float32, batch 1", f"< {DECODER_TARGET_MS} ms", f"{number(value, 3)} ms", met(value, passed)])

    if results["settings"]["preset"] == "quick":
        value = results["wall_s"]
        rows.append(["`--quick` wall time", f"< {QUICK_TARGET_S:.0f} s", f"{value:.0f} s", met(value, value < QUICK_TARGET_S)])
    if not rows:
        return "## Targets\n\nNo section with a target was measured."
    return "## Targets (reported, not asserted)\n\n" + table(["target", "goal", "measured", "status"], rows)


def _vae_training_rate(vae_section, pipeline_section):
    """Return the `keras` VAE training rate, or the pipeline worker's own tensor-fed rate without a VAE section."""
    if vae_section.get("status") == "ok":
        rate = median_rate(vae_section["contenders"], "keras")
        if rate:
            return rate
    return median(pipeline_section["training"]["tensor_step_images_per_s"])


def _pipeline_section(section, vae_section):
    lines = ["## 3. Input pipeline", ""]
    if section.get("status") != "ok":
        return "\n".join(lines + [skip_line(section)])
    training = section["training"]
    vae_rate = _vae_training_rate(vae_section, section)
    cached = median(section["cached_epoch_images_per_s"])
    rows = [
        ["First epoch: decode 500x500 PNGs, resize, cache", number(median(section["first_epoch_images_per_s"])), spread(section["first_epoch_images_per_s"])],
        ["Cached epoch (5 per repetition)", number(cached), spread(section["cached_epoch_images_per_s"])],
        ["VAE training, first epoch on the pipeline (decode competes for the cores)", number(median(training["first_epoch_images_per_s"])), spread(training["first_epoch_images_per_s"])],
        ["VAE training, later epochs on the pipeline", number(median(training["pipeline_step_images_per_s"])), spread(training["pipeline_step_images_per_s"])],
        ["VAE training on one pre-made batch (no pipeline)", number(median(training["tensor_step_images_per_s"])), spread(training["tensor_step_images_per_s"])],
    ]
    later = training["later_epoch_next_s"]
    lines += [
        f"`keras_cartoon.data.image_folder_datasets` on `{section['data_dir']}` ({section['files']} files, "
        f"{section['skipped_files']} skipped by the scan), {section['image_size']}x{section['image_size']}, batch "
        f"{section['batch_size']}, in-memory cache. The folder scan took {number(median(section['scan_s']), 2)} s "
        "(median) and is not in the first-epoch rate. Later repetitions find the files in the OS page cache.",
        "",
        table(["measurement", "images/s (median)", "min to max"], rows),
        "",
        f"Cached epoch / `keras` VAE training rate: {ratio_text(stats.ratio(cached, vae_rate))}.",
        "",
        f"Waiting for data: a `next()` on the training iterator slower than {training['wait_threshold_s'] * 1e3:.0f} ms "
        f"counts as a wait. Epoch 1: {training['first_epoch_waits']} of {training['first_epoch_steps']} steps waited. "
        f"Later epochs: {training['later_epoch_waits']} of {training['later_epoch_steps']} steps waited "
        f"({training['later_epoch_waits_at_epoch_start']} of them the first step of an epoch, while the shuffle "
        f"buffer refills), {number(100 * (training['later_epoch_wait_share'] or 0), 2)}% of the time; "
        f"median `next()` {number(median(later) * 1e3 if later else None, 3)} ms, max "
        f"{number(training['later_epoch_max_next_s'] * 1e3 if training['later_epoch_max_next_s'] is not None else None, 3)} ms. "
        f"Peak RSS of the pipeline worker: {number(section.get('peak_rss_mib'), 0)} MiB.",
    ]
    return "\n".join(lines)


def _inference_section(section):
    lines = ["## 4. Inference latency, batch 1", ""]
    if section.get("status") != "ok":
        return "\n".join(lines + [skip_line(section)])
    lines += [
        f"{section['image_size']}x{section['image_size']} images; {section['repetitions']} repetitions of up to "
        f"{section['runs_per_repetition']} timed calls (fewer once a contender's calls pass "
        f"{section['max_seconds_per_repetition']} s) after {section['warmup_runs']} warm-up calls, contenders "
        "alternated. A TFLite call is `set_tensor` + `invoke` + `get_tensor` on a LiteRT `Interpreter`. "
        "`keras_predict_on_batch` is `Model.predict_on_batch`, `keras_call` is an eager `model(x)`. "
        "Weights are freshly initialised, so the int8 error column does not predict the error of a trained model. "
        "`decoder_subpixel` is the form `python -m export` writes by default (`export/subpixel.py`): the same decoder with each 4x4 "
        "stride-2 transposed convolution rewritten as a 3x3 convolution to 4x the channels plus `depth_to_space`, "
        "and BatchNormalization folded in. Its error column compares it with the Keras decoder.",
        "",
    ]
    rows = []
    for name, result in section["contenders"].items():
        part, kind = name.split("/")
        variant = section["export"].get(part, {}).get("variants", {}).get(kind, {})
        latency = result["latency_ms"]
        rows.append(
            [
                part,
                f"`{kind}`",
                number(median(latency), 3),
                spread(latency, 3),
                number(variant.get("size_bytes", 0) / 1024, 0) if variant else "",
                f"{variant['max_abs_error_vs_keras']:.2g}" if variant else "",
                number(variant.get("convert_s"), 1) if variant else "",
            ]
        )
    header = ["part", "contender", "ms (median)", "min to max", "file KiB", "max abs error vs Keras", "convert s"]
    lines.append(table(header, rows))
    for part, report in section["export"].items():
        lines.append("")
        lines.append(
            f"{part}: {report['parameters']:,} parameters, {report['float32_weight_bytes'] / 1024:,.0f} KiB of "
            "float32 weights."
        )
    return "\n".join(lines)


def render_markdown(results):
    """Return the BENCHMARKS.md text for a results dict."""
    command = results["command"]
    parts = [
        "# Benchmarks",
        "",
        f"Generated by `benchmarks/run.py` on {results['machine']['started_at']} "
        f"(preset `{results['settings']['preset']}`, {results['wall_s']:.0f} s wall time). Do not edit by hand: "
        "rerun the command below. Raw numbers, including every timed step, are in `benchmarks/results.json`.",
        "",
        "Command of this run:",
        "",
        f"    {command}",
        "",
        f"Full run on a quiet machine: `{CANONICAL_COMMAND}`; quick check: add `--quick`. Method: every "
        "contender runs in its own child process with equal thread counts; warm-up steps are excluded; "
        "contenders alternate within each repetition, the order rotated per repetition; tables give the median "
        "over repetitions with min to max and the interquartile range (IQR).",
        "",
        _machine_section(results),
        "",
        _targets_section(results),
        "",
        report_training.vae_section(selected_section(results, "vae")),
        "",
        report_training.cyclegan_section(selected_section(results, "cyclegan")),
        "",
        _pipeline_section(selected_section(results, "pipeline"), selected_section(results, "vae")),
        "",
        _inference_section(selected_section(results, "inference")),
        "",
        report_training.memory_section(results),
        "",
        report_training.flops_section(results),
        "",
    ]
    if NOTES_PATH.is_file():
        parts += [NOTES_PATH.read_text(encoding="utf-8").rstrip(), ""]
    return "\n".join(parts)
