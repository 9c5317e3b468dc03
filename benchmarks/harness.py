"""The benchmark harness behind `python -m benchmarks.run`, importable without its flags."""

import importlib
import json
import pathlib
import time

from absl import logging

from benchmarks import machine
from benchmarks import report
from benchmarks import settings as settings_lib

RUNNERS = {
    "vae": ("benchmarks.train_throughput", "run_vae"),
    "cyclegan": ("benchmarks.train_throughput", "run_cyclegan"),
    "pipeline": ("benchmarks.input_pipeline", "run_pipeline"),
    "inference": ("benchmarks.inference", "run_inference"),
    "flops": ("benchmarks.flops", "run_flops"),
}


def output_paths(output_dir=None):
    """Return (markdown path, JSON path) for an output folder, or the repository defaults."""
    if output_dir:
        output_dir = pathlib.Path(output_dir)
        return output_dir / "BENCHMARKS.md", output_dir / "results.json"
    return settings_lib.REPO_ROOT / "BENCHMARKS.md", settings_lib.REPO_ROOT / "benchmarks" / "results.json"


def run_benchmarks(settings, command):
    """Run the sections of `settings` in order and return the results dict (JSON-ready)."""
    unknown = [name for name in settings.sections if name not in RUNNERS]
    if unknown:
        raise ValueError(f"Unknown sections {unknown}; choose from {list(RUNNERS)}. Received: sections={list(settings.sections)}")

    start = time.perf_counter()
    results = {
        "command": command,
        "settings": settings.to_json(),
        "machine": machine.describe_machine(),
        "sections": {},
    }
    logging.info("Benchmark settings: %s", json.dumps(results["settings"]))
    logging.info("Machine: %s", json.dumps(results["machine"]))
    for name in settings.sections:
        module_name, function_name = RUNNERS[name]
        section_start = time.perf_counter()
        logging.info("Section %s starts (load average %s).", name, machine.load_average())
        runner = getattr(importlib.import_module(module_name), function_name)
        section = runner(settings)
        section["wall_s"] = time.perf_counter() - section_start
        section["load_average_at_end"] = machine.load_average()
        results["sections"][name] = section
        logging.info("Section %s finished in %.0f s: %s.", name, section["wall_s"], section["status"])
    results["wall_s"] = time.perf_counter() - start
    results["load_average_at_end"] = machine.load_average()
    return results


def write_outputs(results, markdown_path, json_path):
    """Write results.json and BENCHMARKS.md, each through a temporary file and a rename."""
    from keras_cartoon.io_utils import write_text_atomic

    write_text_atomic(json_path, json.dumps(results, indent=1) + "\n")
    write_text_atomic(markdown_path, report.render_markdown(results))
