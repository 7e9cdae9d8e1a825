"""Fit time against thread count (issue 5): 100000 x 784, hidden (512,), L-BFGS.

    python bench/thread_scaling.py      # 1,2,4,8,16 threads, those the machine has
    python bench/thread_scaling.py --threads 1,2,4,8,16,32 --libraries fastmlp sklearn
    python bench/thread_scaling.py --n-samples 20000 --max-iter 2   # a quick look

For each library and thread count: hold every OpenMP runtime and BLAS to
that many threads (threadpoolctl), warm up with a small fit, then time
--rounds fits of MLPClassifier(hidden_layer_sizes=(H,), solver="lbfgs",
max_iter=M, tol=0) on normal data with 10 classes, the two sides in separate
blocks. Thread counts above the machine's logical CPUs are skipped (and
listed as such) unless --oversubscribe. fastmlp uses at most the physical
cores unless OMP_NUM_THREADS says otherwise; the table shows the threads it
really used.

Writes bench/results/thread_scaling.json (read by bench/report.py, which puts
the table in report.md) and thread_scaling.png (matplotlib, if installed),
and prints a Markdown table. About 2 minutes for fastmlp on 2 cores with the
defaults; sklearn adds about 4.
"""

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from machine import describe, one_line  # noqa: E402

_SETTLE_S = 0.3


def _fit_times(library, threads, X, y, params, rounds):
    import scipy.optimize
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_info, threadpool_limits

    if library == "fastmlp":
        from fastmlp import MLPClassifier
        from fastmlp._threads import effective_n_threads
    else:
        from sklearn.neural_network import MLPClassifier

    nfev = []
    minimize = scipy.optimize.minimize

    def counting(*args, **kwargs):
        result = minimize(*args, **kwargs)
        nfev.append(int(result.nfev))
        return result

    scipy.optimize.minimize = counting
    try:
        with warnings.catch_warnings(), threadpool_limits(limits=threads):
            warnings.simplefilter("ignore", ConvergenceWarning)
            if library == "fastmlp":
                used = effective_n_threads()
            else:
                used = max(i["num_threads"] for i in threadpool_info()
                           if i["user_api"] == "blas")
            MLPClassifier(**{**params, "max_iter": 2}).fit(X[:2000], y[:2000])  # warm-up
            time.sleep(_SETTLE_S)
            times = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                model = MLPClassifier(**params).fit(X, y)
                times.append(time.perf_counter() - t0)
    finally:
        scipy.optimize.minimize = minimize
    return times, used, nfev[-1], int(model.n_iter_)


def _table(rows):
    base = {}
    for r in rows:
        if r["threads"] == min(x["threads"] for x in rows if x["library"] == r["library"]):
            base[r["library"]] = r["median_s"] * r["threads"]
    lines = ["| library | threads asked | threads used | fit (median) | per evaluation "
             "| speed-up over 1 thread | parallel efficiency |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        one = base[r["library"]]  # time with 1 thread (or extrapolated from the smallest count)
        speed = one / r["median_s"]
        lines.append(
            f"| {r['library']} | {r['threads']} | {r['threads_used']} | {r['median_s']:.2f} s "
            f"| {r['median_s'] / r['evaluations'] * 1e3:.0f} ms | {speed:.2f}× "
            f"| {speed / r['threads_used']:.0%} |"
        )
    return "\n".join(lines)


def _chart(rows, path, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed"
    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=80)
    top = max(r["threads"] for r in rows)
    ax.plot([1, top], [1, top], ls="--", color="0.6", lw=0.8, label="ideal")
    for lib, color in (("fastmlp", "tab:blue"), ("sklearn", "tab:red")):
        pts = [r for r in rows if r["library"] == lib]
        if not pts:
            continue
        one = pts[0]["median_s"] * pts[0]["threads"]
        ax.plot([r["threads"] for r in pts], [one / r["median_s"] for r in pts],
                marker="o", color=color, label=lib)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    fmt = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(fmt)
    ax.yaxis.set_major_formatter(fmt)
    ax.set_xlabel("threads")
    ax.set_ylabel("speed-up over 1 thread")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", default="1,2,4,8,16",
                   help="comma-separated thread counts (default 1,2,4,8,16)")
    p.add_argument("--libraries", nargs="+", default=["fastmlp"],
                   choices=["fastmlp", "sklearn"])
    p.add_argument("--n-samples", type=int, default=100_000)
    p.add_argument("--n-features", type=int, default=784)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--max-iter", type=int, default=3)
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--oversubscribe", action="store_true",
                   help="also run thread counts above the logical CPUs")
    p.add_argument("--out", default=str(BENCH / "results"))
    args = p.parse_args(argv)

    counts = sorted({int(t) for t in args.threads.split(",") if t.strip()})
    cpus = os.cpu_count() or 1
    run = [t for t in counts if t <= cpus or args.oversubscribe]
    skipped = [t for t in counts if t not in run]
    info = describe()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n_samples, args.n_features)).astype(args.dtype)
    y = rng.integers(0, 10, size=args.n_samples)
    params = dict(hidden_layer_sizes=(args.hidden,), solver="lbfgs", max_iter=args.max_iter,
                  tol=0, random_state=1)
    problem = (f"{args.n_samples}×{args.n_features} {args.dtype}, 10 classes, hidden "
               f"({args.hidden},), L-BFGS max_iter={args.max_iter} tol=0, median of "
               f"{args.rounds}")
    print(problem + (f"; load average {load:.1f}" if load is not None else ""), flush=True)
    rows = []
    for lib in args.libraries:
        for t in run:
            times, used, nfev, n_iter = _fit_times(lib, t, X, y, params, args.rounds)
            rows.append(dict(library=lib, threads=t, threads_used=used,
                             median_s=float(np.median(times)), times_s=times,
                             evaluations=nfev, n_iter=n_iter))
            print(f"  {lib:8s} {t:3d} threads (used {used}): "
                  f"{np.median(times):.2f} s, {nfev} evaluations", flush=True)
    note = ""
    if skipped:
        note = (f"Not measured here: {', '.join(map(str, skipped))} threads (this machine has "
                f"{cpus} logical CPUs); run `python bench/thread_scaling.py` on a larger "
                "machine for them.")
    command = "python bench/thread_scaling.py " + " ".join(argv if argv is not None
                                                           else sys.argv[1:])
    table = _table(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    why = _chart(rows, out / "thread_scaling.png", f"{problem}\n{one_line(info)}")
    result = dict(problem=problem, command=command.strip(), machine=info,
                  machine_line=one_line(info), load_average=load, rows=rows, table=table,
                  skipped=note,
                  chart=None if why else "thread_scaling.png")
    (out / "thread_scaling.json").write_text(json.dumps(result, indent=1))
    print("\n" + table)
    if note:
        print("\n" + note)
    print(f"\nwrote {out / 'thread_scaling.json'}"
          + ("" if why else f" and {out / 'thread_scaling.png'}"))
    return rows


if __name__ == "__main__":
    main()
