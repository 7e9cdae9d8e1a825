"""What machine and software a benchmark ran on, for its report.

    python bench/machine.py        # prints the description as Markdown

Shared by bench/conftest.py (stored in pytest-benchmark's JSON under
machine_info["fastmlp"]), bench/report.py and bench/thread_scaling.py.
"""

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _lscpu():
    if not shutil.which("lscpu"):
        return {}
    try:
        out = subprocess.run(
            ["lscpu"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            timeout=10, env={**os.environ, "LC_ALL": "C"},
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    info = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    return info


def _mem_total_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git_commit():
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=10,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def describe():
    """A JSON-friendly dict: CPU, cores, caches, memory, BLAS/OpenMP, versions.

    Imports fastmlp first so threadpoolctl sees the OpenMP runtime it uses.
    """
    import numpy
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    try:
        import fastmlp
        from fastmlp._threads import effective_n_threads

        fastmlp_version = fastmlp.__version__
        fastmlp_threads = effective_n_threads()
    except ImportError as exc:  # not built: describe the rest
        fastmlp_version, fastmlp_threads = f"not importable ({exc})", None
    try:
        from joblib import cpu_count

        physical = cpu_count(only_physical_cores=True)
    except ImportError:
        physical = None
    cpu = _lscpu()
    pools = []
    for p in threadpool_info():
        pools.append({
            k: p.get(k) for k in
            ("user_api", "internal_api", "prefix", "version", "num_threads",
             "threading_layer", "architecture")
            if p.get(k) is not None
        })
    info = {
        "cpu": cpu.get("Model name") or platform.processor() or platform.machine(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": physical,
        "l1d": cpu.get("L1d cache"),
        "l2": cpu.get("L2 cache"),
        "l3": cpu.get("L3 cache"),
        "hypervisor": cpu.get("Hypervisor vendor"),
        "memory_gib": _mem_total_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "fastmlp": fastmlp_version,
        "fastmlp_omp_threads": fastmlp_threads,
        "git": _git_commit(),
        "threadpools": pools,
    }
    if "torch" in sys.modules:
        info["torch"] = sys.modules["torch"].__version__
    return info


def blas_summary(info):
    """'OpenBLAS 0.3.30 (SkylakeX, pthreads)' for each BLAS found, deduplicated."""
    seen = []
    for p in info.get("threadpools", []):
        if p.get("user_api") != "blas":
            continue
        name = {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS"}.get(
            p.get("internal_api"), p.get("internal_api", "?"))
        extra = ", ".join(x for x in (p.get("architecture"), p.get("threading_layer")) if x)
        text = f"{name} {p.get('version') or '?'}" + (f" ({extra})" if extra else "")
        text += f" via {p.get('prefix')}" if p.get("prefix") else ""
        if text not in seen:
            seen.append(text)
    return "; ".join(seen) or "none found"


def markdown(info):
    """The description as a Markdown bullet list."""
    cores = info.get("physical_cores")
    lines = [
        f"- CPU: {info.get('cpu')}, {cores} physical cores, "
        f"{info.get('logical_cpus')} logical CPUs"
        + (f" ({info['hypervisor']} virtual machine)" if info.get("hypervisor") else ""),
        "- caches: " + ", ".join(
            f"{k.upper()} {info[k]}" for k in ("l1d", "l2", "l3") if info.get(k)
        ),
        f"- memory: {info.get('memory_gib')} GiB; {info.get('os')}",
        f"- BLAS: {blas_summary(info)}",
        f"- Python {info.get('python')}, numpy {info.get('numpy')}, scipy {info.get('scipy')}, "
        f"scikit-learn {info.get('sklearn')}, fastmlp {info.get('fastmlp')}"
        + (f" (git {info['git']})" if info.get("git") else "")
        + (f", torch {info['torch']}" if info.get("torch") else ""),
    ]
    return "\n".join(lines)


def _short_cpu(name):
    return re.sub(r"\((R|TM)\)", "", name or "?").replace("  ", " ").strip()


def one_line(info):
    """A short one-line description for chart titles."""
    mem = info.get("memory_gib")
    return (f"{_short_cpu(info.get('cpu'))}, {info.get('physical_cores')} cores, "
            f"{mem:.0f} GiB" if mem else f"{_short_cpu(info.get('cpu'))}, "
            f"{info.get('physical_cores')} cores")


if __name__ == "__main__":
    print(markdown(describe()))
