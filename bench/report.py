"""Run the benchmark matrix and write its report.

    python bench/report.py                  # quick subset: about 2 minutes on 2 cores
    python bench/report.py --full           # the full matrix (hours on 2 cores)
    python bench/report.py --from bench/results/65cb4a4_20261125-061431.json   # report only
    python bench/report.py -- -k digits     # anything after -- goes to pytest

It runs ``python -m pytest bench/test_bench_matrix.py`` with
``--benchmark-json=bench/results/<commit>_<timestamp>.json`` (pytest-benchmark's
own format: ``pytest-benchmark compare A.json B.json --group-by=group``
compares two runs, case by case; add ``--name=long`` to see whole file
names), then writes into bench/results/:

- report.md: the machine, the command, and one row per case (sklearn and
  fastmlp medians, speed-up, time per pass over the data, the BLAS floor,
  PyTorch where installed, peak memory beyond the data), plus the thread
  scaling of bench/thread_scaling.py when bench/results/thread_scaling.json
  exists;
- speedup.png: speed-up against problem size, and fastmlp against the floor
  (needs matplotlib, the optional "bench" extra; without it the chart is
  skipped and the report says so).

Install fastmlp first (``python3 -m pip install ".[test,bench]"``, or an
editable install for development); with ``-P`` the run imports the installed
package, never the source folder.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
sys.path.insert(0, str(BENCH))

from machine import describe, markdown, one_line  # noqa: E402

# ------------------------------------------------------------ running ----


def _shown_path(json_path):
    """json_path relative to the repository when it lies inside it."""
    path = Path(json_path)
    return path.relative_to(REPO) if path.is_relative_to(REPO) else json_path

def _check_import():
    out = subprocess.run(
        [sys.executable, "-c", "import fastmlp, pytest_benchmark"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    if out.returncode:
        sys.exit(
            "cannot import fastmlp's compiled core or pytest-benchmark:\n"
            f"{out.stdout.strip()}\n"
            "install them first: python3 -m pip install '.[test,bench]'"
        )


def _head():
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return out.stdout.strip() or "nogit"
    except OSError:
        return "nogit"


def run_pytest(json_path, full, extra, command):
    cmd = [
        sys.executable, "-m", "pytest", "bench/test_bench_matrix.py",
        "-p", "no:cacheprovider", "-q",
        f"--benchmark-json={json_path}",
        "--benchmark-columns=median,iqr,rounds,iterations",
        "--benchmark-sort=fullname",
    ]
    if full:
        cmd.append("--full")
    cmd += extra
    print("+", " ".join(cmd[1:]), flush=True)
    t0 = time.perf_counter()
    env = {**os.environ, "FASTMLP_BENCH_COMMAND": command}  # recorded in the JSON
    rc = subprocess.run(cmd, cwd=REPO, env=env).returncode
    return rc, time.perf_counter() - t0


# ----------------------------------------------------------- the table ----

def fmt_s(t):
    if t is None or (isinstance(t, float) and math.isnan(t)):
        return "-"
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.1f} ms"
    return f"{t * 1e6:.0f} µs"


def fmt_mib(m):
    if m is None:
        return "-"
    return f"{m:.0f} MiB" if m >= 10 else f"{m:.1f} MiB"


def collect(bench_json):
    """One dict per case (benchmark group), in run order."""
    cases = {}
    for b in bench_json["benchmarks"]:
        e = b.get("extra_info", {})
        side = e.get("side") or b.get("params", {}).get("side")
        if side not in ("sklearn", "fastmlp"):
            continue
        c = cases.setdefault(b["group"], {"group": b["group"], "info": e})
        c[side] = {
            "median": (b.get("stats") or {}).get("median"),
            "per_pass": e.get("per_pass_s"),
            "per_eval": e.get("per_eval_s"),
            "peak_mib": e.get("peak_mib"),
            "evaluations": e.get("evaluations"),
            "passes": e.get("passes"),
            "threads_used": e.get("threads_used"),
        }
    rows = []
    for c in cases.values():
        sk, fm = c.get("sklearn", {}), c.get("fastmlp", {})
        e = c["info"]
        speedup = None
        if sk.get("median") and fm.get("median"):
            speedup = sk["median"] / fm["median"]
        floor = e.get("floor_s")
        rows.append({
            "group": c["group"], "info": e, "sklearn": sk, "fastmlp": fm,
            "speedup": speedup, "floor": floor, "torch": e.get("torch_s"),
            "over_floor": (fm["per_pass"] / floor) if fm.get("per_pass") and floor else None,
        })
    return rows


def _case_cells(e):
    est = "classifier" if e.get("estimator") == "clf" else "regressor"
    sizes = e.get("hidden", [])
    hidden = "(" + ", ".join(map(str, sizes)) + ("," if len(sizes) == 1 else "") + ")"
    data = {
        "digits": "digits 1797×64",
        "sparse": f"CSR {e['n_samples']}×{e['n_features']} {e['sparse'] * 100:g}%",
    }.get(e.get("data"), f"{e['n_samples']}×{e['n_features']}")
    threads = e.get("threads")
    threads = "1" if threads == 1 else f"all ({e.get('threads_used')})"
    return [f"{e.get('work')} {est}", data, hidden, e.get("dtype", "?"), threads]


def _table(head, rows, extra_cells):
    """Markdown table: the case columns, both medians and the speed-up, then
    extra_cells(row, sklearn, fastmlp)."""
    head = ["case", "data", "hidden", "dtype", "threads", "sklearn", "fastmlp",
            "speed-up"] + head
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * 5 + ["---:"] * (len(head) - 5)) + "|"]
    for r in rows:
        sk, fm = r["sklearn"], r["fastmlp"]
        cells = _case_cells(r["info"]) + [
            fmt_s(sk.get("median")), fmt_s(fm.get("median")),
            f"**{r['speedup']:.2f}×**" if r["speedup"] else "-",
        ] + extra_cells(r, sk, fm)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_table(rows):
    return _table(
        ["per pass sklearn", "per pass fastmlp", "BLAS floor", "fastmlp / floor",
         "torch", "memory sklearn", "memory fastmlp"],
        rows,
        lambda r, sk, fm: [
            fmt_s(sk.get("per_pass")), fmt_s(fm.get("per_pass")), fmt_s(r["floor"]),
            f"{r['over_floor']:.2f}" if r["over_floor"] else "-",
            fmt_s(r["torch"]), fmt_mib(sk.get("peak_mib")), fmt_mib(fm.get("peak_mib")),
        ],
    )


def compact_table(rows):
    """The performance page's narrower table."""
    return _table(
        ["fastmlp per pass", "BLAS floor", "memory sklearn / fastmlp"],
        rows,
        lambda r, sk, fm: [
            fmt_s(fm.get("per_pass")), fmt_s(r["floor"]),
            f"{fmt_mib(sk.get('peak_mib'))} / {fmt_mib(fm.get('peak_mib'))}",
        ],
    )


# ------------------------------------------------------------ the chart ----

_KINDS = {"lbfgs": ("fit, L-BFGS", "tab:blue"), "adam": ("fit, adam", "tab:orange"),
          "predict": ("predict", "tab:green")}


def _kind(e):
    return "predict" if e.get("op") == "predict" else e.get("solver")


def chart(rows, path, title):
    """Speed-up against problem size, and fastmlp's time per pass over the
    floor; returns None, or why the chart was skipped."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib)"
    pts = [r for r in rows if r["speedup"] and r["info"].get("gflop_per_pass")]
    if not pts:
        return "no case has both sides timed"
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=80)
    annotate = len(pts) <= 30
    for r in pts:
        e = r["info"]
        label, color = _KINDS.get(_kind(e), ("?", "gray"))
        one = e.get("threads") == 1
        style = dict(color=color, marker="s" if one else "o", s=36,
                     facecolors="none" if one else color, linewidths=1.4)
        x = e["gflop_per_pass"]
        ax1.scatter(x, r["speedup"], **style)
        if r["over_floor"]:
            ax2.scatter(x, r["over_floor"], **style)
        if annotate:
            tag = {"digits": "digits", "sparse": "CSR"}.get(e["data"], e["data"])
            tag += " " + "x".join(map(str, e["hidden"]))
            ax1.annotate(tag, (x, r["speedup"]), fontsize=6.5, xytext=(4, 2),
                         textcoords="offset points", color="0.3")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axhline(1, color="0.5", lw=0.8, ls="--")
        ax.set_xlabel("problem size: GFLOP per pass over the data")
        ax.grid(True, which="major", alpha=0.3)
    for ax in (ax1, ax2):
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax1.set_ylabel("speed-up: sklearn time / fastmlp time")
    ax1.set_title("fastmlp speed-up over scikit-learn", fontsize=10)
    ax2.set_ylabel("fastmlp time per pass / BLAS floor")
    ax2.set_title("distance to the bare matrix products", fontsize=10)
    handles = [plt.Line2D([], [], ls="", marker="o", color=c, label=l)
               for l, c in _KINDS.values()]
    handles += [plt.Line2D([], [], ls="", marker="o", color="0.3", label="all threads"),
                plt.Line2D([], [], ls="", marker="s", color="0.3", markerfacecolor="none",
                           label="1 thread")]
    ax1.legend(handles=handles, fontsize=7, loc="best")
    fig.suptitle(title, fontsize=8.5)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return None


# ------------------------------------------------------ thread scaling ----

def scaling_section(path, image=True):
    if not path.exists():
        return ("Thread scaling: not measured in this run (`python bench/thread_scaling.py` "
                "writes bench/results/thread_scaling.json, which this report then includes).")
    data = json.loads(path.read_text())
    load = data.get("load_average")
    out = [f"Thread scaling ({data['problem']}; `{data['command']}`, "
           f"{data['machine_line']}"
           + (f", load average {load:.1f} when it started" if load is not None else "")
           + "):", "", data["table"]]
    if data.get("skipped"):
        out += ["", data["skipped"]]
    if image and data.get("chart") and (path.parent / data["chart"]).exists():
        out += ["", f"![thread scaling]({data['chart']})"]
    return "\n".join(out)


# ---------------------------------------------------------------- docs ----

PAGE = REPO / "docs" / "user_guide" / "performance.md"
PAGE_CHART = REPO / "docs" / "speedup.png"
_HEADING = "## Benchmarks"
_GENERATED = ("<!-- from here to the end of the section: written by "
              "`python bench/report.py --docs` -->")

_PAGE_INTRO = """\
fastmlp is timed against scikit-learn's `MLPClassifier` and `MLPRegressor` in the same run, by
pytest-benchmark suites in `bench/`. Install fastmlp with the extras and run the quick subset
(about {minutes} on a 2-core machine):

```
python3 -m pip install ".[test,bench]"    # fastmlp, pytest-benchmark; matplotlib for the chart
python3 bench/report.py   # --full: the whole matrix (hours); --docs: refresh this section
```

It writes `bench/results/<commit>_<timestamp>.json` (pytest-benchmark's format: compare two versions
with `pytest-benchmark compare OLD.json NEW.json --group-by=group`),
`bench/results/report.md` (every
column: per-pass times of both sides, PyTorch on the CPU where installed, ...) and
`bench/results/speedup.png`. The full matrix crosses data (digits 1797x64, 20000x784, 100000x784,
CSR 20000x10000 at 1% density), hidden layers (16,), (256,), (512, 256), float32/float64,
classifier/regressor, L-BFGS/adam fits and predict, 1 thread and all; `-- -k PATTERN` after the
command selects cases by name. `python3 bench/thread_scaling.py --threads 1,2,4,8,16` measures fit
time against thread count (100000x784, hidden (512,)); `python3 bench/memory.py` the resident
memory of the big L-BFGS fit.

Each fit runs a fixed amount of work (L-BFGS with `tol=0` and the `max_iter` shown, adam for the
epochs shown); times are medians of each side's own block of rounds. *Per pass*: the time per pass
over the data (per loss+gradient evaluation for L-BFGS, per epoch for adam, the forward pass for
predict). *BLAS floor*: the bare matrix products of one such pass with numpy's BLAS, what the
hardware does for that network's products; fastmlp can go below it where those products are
memory-bound (narrow layers, sparse input: scipy.sparse, single-threaded), since its passes work
on cache-sized chunks. *Memory*: tracemalloc's peak of what one call allocates beyond the data
(for L-BFGS it includes scipy's L-BFGS-B workspace, over 20 float64 values per parameter).
"""


def page_section(rows, info, took_s, note, scaling_path):
    command = info.get("command", "?")
    load = info.get("load_average_start")
    out = [_HEADING, "", _PAGE_INTRO.format(
        minutes=f"{took_s / 60:.0f} minutes" if took_s else "2 minutes"), _GENERATED, ""]
    if note:
        out += [f"**{note}**", ""]
    when = info.get("date") or time.strftime("%Y-%m-%d")
    out += [f"Results of `{command}` on {when}"
            + (f", {took_s / 60:.1f} minutes" if took_s else "")
            + (f"; load average {load:.1f} when it started" if load is not None else "")
            + ", on:", "",
            markdown(info), "", compact_table(rows), ""]
    if PAGE_CHART.exists():
        out += ["![fastmlp speed-up over scikit-learn against problem size]"
                "(../speedup.png)", ""]
    out += [scaling_section(scaling_path, image=False), ""]
    return "\n".join(out)


def update_page(section):
    """Replace the performance page's Benchmarks section (to the next '## ' heading or
    the end of the file), or append it."""
    text = PAGE.read_text()
    lines = text.split("\n")
    try:
        start = lines.index(_HEADING)
    except ValueError:
        PAGE.write_text(text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n")
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    tail = lines[end:]
    new = lines[:start] + section.rstrip("\n").split("\n") + ([""] + tail if tail else [""])
    PAGE.write_text("\n".join(new))


# ---------------------------------------------------------------- main ----

def write_report(json_path, out_dir, took_s=None):
    """report.md and speedup.png from a run's JSON; the command, the time it
    took and the load come from the JSON (recorded by bench/conftest.py)."""
    bench_json = json.loads(Path(json_path).read_text())
    info = bench_json.get("machine_info", {}).get("fastmlp") or describe()
    command = info.get("command", "?")
    took_s = took_s or info.get("session_s")
    load = info.get("load_average_start")
    rows = collect(bench_json)
    rows.sort(key=lambda r: (r["info"].get("gflop_per_pass") or 0))
    png = out_dir / "speedup.png"
    skipped = chart(rows, png, f"{one_line(info)}; {bench_json.get('datetime', '')[:16]}")
    speedups = [r["speedup"] for r in rows if r["speedup"]]
    summary = ""
    if speedups:
        geo = math.exp(sum(map(math.log, speedups)) / len(speedups))
        summary = (f"{len(rows)} cases; speed-up from {min(speedups):.2f}× to "
                   f"{max(speedups):.2f}×, geometric mean {geo:.2f}×.")
    lines = [
        "# fastmlp benchmark report", "",
        f"Command: `{command}`" + (f" ({took_s / 60:.1f} minutes" if took_s else "")
        + (f", load average {load:.1f} when it started" if load is not None else "")
        + (")" if took_s else ""),
        f"Results: `{_shown_path(json_path)}` "
        f"(pytest-benchmark JSON), run {bench_json.get('datetime', '?')}", "",
        "Machine:", "", markdown(info), "",
        summary, "",
        markdown_table(rows), "",
        "Columns: medians of each side's own block of rounds (a fit runs a fixed "
        "amount of work: L-BFGS `tol=0` and `max_iter` as shown, adam for the epochs "
        "shown); *per pass*: the median divided by the passes over the data that "
        "run made (L-BFGS: loss+gradient evaluations; adam: epochs; predict: one "
        "forward pass); *BLAS floor*: the bare matrix products of one such pass "
        "(best of a few runs; scipy.sparse, single-threaded, for a CSR first layer). "
        "It bounds compute-bound passes; where the products are memory-bound (narrow "
        "layers, sparse input) fastmlp's chunked, cache-resident passes can beat it, "
        "so a ratio below 1 is no error; *torch*: the same "
        "MLP's loss+gradient (or forward) in PyTorch on the CPU, where installed; "
        "*memory*: tracemalloc peak of the allocations made during one call, beyond "
        "the data (numpy arrays counted, BLAS/OpenMP internal buffers not).", "",
        ("![speed-up against problem size](speedup.png)" if not skipped
         else f"Chart skipped: {skipped}."), "",
        scaling_section(out_dir / "thread_scaling.json"), "",
    ]
    report = out_dir / "report.md"
    report.write_text("\n".join(lines))
    return report, skipped, rows, info, took_s


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="the full matrix (hours on 2 cores)")
    p.add_argument("--from", dest="from_json", metavar="JSON",
                   help="write the report from an earlier run's JSON, running nothing")
    p.add_argument("--out", default=str(RESULTS), help="folder for the JSON, report.md "
                   "and speedup.png (default bench/results)")
    p.add_argument("--docs", action="store_true",
                   help="also rewrite docs/user_guide/performance.md's Benchmarks section from "
                        "this run and copy the chart to docs/speedup.png")
    p.add_argument("--note", default="", help="a line to put above the performance page's table")
    args = p.parse_args(argv)
    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    rc, took = 0, None
    if args.from_json:
        json_path = Path(args.from_json).resolve()
    else:
        _check_import()
        # the commit first: pytest-benchmark compare names a run by the first
        # 12 characters of its file name
        json_path = out_dir / f"{_head()}_{time.strftime('%Y%m%d-%H%M%S')}.json"
        command = "python bench/report.py" + (" --full" if args.full else "") + (
            " -- " + " ".join(extra) if extra else "")
        # FASTMLP_BENCH_FULL passes through to pytest too
        rc, took = run_pytest(json_path, args.full, extra, command)
        if not json_path.exists():
            sys.exit(f"pytest exited {rc} without writing {json_path}")
    report, skipped, rows, info, took = write_report(json_path, out_dir, took)
    if args.docs:
        if skipped:
            PAGE_CHART.unlink(missing_ok=True)
        else:
            PAGE_CHART.parent.mkdir(exist_ok=True)
            shutil.copyfile(out_dir / "speedup.png", PAGE_CHART)
        update_page(page_section(rows, info, took, args.note,
                                     out_dir / "thread_scaling.json"))
        print(f"docs:    {PAGE} (Benchmarks section)"
              + ("" if skipped else f", chart {PAGE_CHART}"))
    print(f"\nresults: {json_path}\nreport:  {report}")
    print("chart:   " + (f"skipped ({skipped})" if skipped else str(out_dir / "speedup.png")))
    if took:
        print(f"took {took / 60:.1f} minutes")
    return rc


if __name__ == "__main__":
    sys.exit(main())
