"""Description of the machine and software a benchmark ran on, read without importing TF or PyTorch."""

import datetime
import importlib.metadata
import os
import platform
import sys

PACKAGES = ("tensorflow", "keras", "torch", "numpy", "ai-edge-litert", "pillow")
# CPU flags that decide which vector kernels oneDNN and PyTorch can use.
INTERESTING_CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile")


def _cpu_info():
    model, flags = platform.processor() or "unknown", []
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = value.split()
    except OSError:
        pass
    return model, [flag for flag in INTERESTING_CPU_FLAGS if flag in flags]


def _package_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def load_average():
    """Return the 1, 5 and 15 minute load averages, or None where the OS has none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def describe_machine():
    """Return a JSON-ready dict: CPU, cores, memory, OS, Python and package versions, load."""
    import psutil

    model, flags = _cpu_info()
    frequency = psutil.cpu_freq()
    return {
        "cpu_model": model,
        "cpu_flags": flags,
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "cpu_max_mhz": round(frequency.max, 0) if frequency and frequency.max else None,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "packages": {name: _package_version(name) for name in PACKAGES},
        "load_average_at_start": load_average(),
        "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
