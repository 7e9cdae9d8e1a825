"""Peak memory of an L-BFGS fit beyond the data: fastmlp against sklearn.

    python bench/memory.py                 # 100000 x 784 float64, hidden (512,), max_iter=3

Each library is measured in a fresh subprocess: warm up with a small fit (so
BLAS buffers, OpenMP threads and imports are not counted), create the data,
note the resident set size (RSS), fit, and read the peak RSS of the fit. RSS
sees every allocation, numpy's and the compiled workspace alike. The peak is
reset after the data is created (Linux /proc/self/clear_refs), so the data's
own creation cannot hide the fit's peak; where that is not allowed,
getrusage's ru_maxrss is used instead. The default run takes about a minute
per library on 2 cores and about 3 GB at most (sklearn's side).
"""

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak():
    """Reset the peak RSS to the current RSS; False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _child(args):
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    if args.library == "fastmlp":
        import fastmlp
        from fastmlp import MLPClassifier

        where = str(Path(fastmlp.__file__).parent)
    else:
        import sklearn
        from sklearn.neural_network import MLPClassifier

        where = f"sklearn {sklearn.__version__}"
    warnings.simplefilter("ignore", ConvergenceWarning)
    dtype = np.dtype(args.dtype)
    params = dict(
        hidden_layer_sizes=(args.hidden,), solver="lbfgs", max_iter=args.max_iter,
        tol=0, random_state=1,
    )
    rng = np.random.default_rng(0)
    MLPClassifier(**params).fit(
        rng.normal(size=(512, args.n_features)).astype(dtype), np.arange(512) % args.n_classes
    )

    X = rng.normal(size=(args.n_samples, args.n_features)).astype(dtype, copy=False)
    y = rng.integers(0, args.n_classes, size=args.n_samples)
    gc.collect()
    reset = _reset_peak()
    rss0 = _status_kib("VmRSS")
    t0 = time.perf_counter()
    model = MLPClassifier(**params).fit(X, y)
    fit_s = time.perf_counter() - t0
    if reset:
        peak, method = _status_kib("VmHWM"), "VmHWM after clear_refs"
    else:
        peak, method = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"
    print(json.dumps(dict(
        library=args.library, where=where, data_mib=(X.nbytes + y.nbytes) / 2**20,
        rss_before_mib=rss0 / 1024, peak_mib=peak / 1024,
        extra_mib=(peak - rss0) / 1024, fit_s=fit_s, n_iter=int(model.n_iter_),
        method=method,
    )))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-samples", type=int, default=100_000)
    p.add_argument("--n-features", type=int, default=784)
    p.add_argument("--n-classes", type=int, default=10)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--max-iter", type=int, default=3)
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--libraries", nargs="+", default=["sklearn", "fastmlp"],
                   choices=["sklearn", "fastmlp"])
    p.add_argument("--child", dest="library", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.library:
        return _child(args)

    forwarded = [
        f"--n-samples={args.n_samples}", f"--n-features={args.n_features}",
        f"--n-classes={args.n_classes}", f"--hidden={args.hidden}",
        f"--max-iter={args.max_iter}", f"--dtype={args.dtype}",
    ]
    rows = []
    for lib in args.libraries:
        out = subprocess.run(
            [sys.executable, __file__, "--child", lib, *forwarded],
            check=True, stdout=subprocess.PIPE, text=True,
        ).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))

    print(f"MLPClassifier(hidden_layer_sizes=({args.hidden},), solver='lbfgs', "
          f"max_iter={args.max_iter}) on {args.n_samples} x {args.n_features} "
          f"{args.dtype}, {args.n_classes} classes; data {rows[0]['data_mib']:.0f} MiB; "
          "one fresh process per library")
    head = ("library", "RSS before fit", "peak RSS", "extra beyond data", "fit time", "n_iter")
    print(f"{head[0]:<8} {head[1]:>15} {head[2]:>12} {head[3]:>18} {head[4]:>9} {head[5]:>7}")
    for r in rows:
        print(f"{r['library']:<8} {r['rss_before_mib']:>11.0f} MiB {r['peak_mib']:>8.0f} MiB "
              f"{r['extra_mib']:>14.0f} MiB {r['fit_s']:>8.1f}s {r['n_iter']:>7d}")
    by = {r["library"]: r for r in rows}
    if "sklearn" in by and "fastmlp" in by and by["fastmlp"]["extra_mib"] > 0:
        print(f"sklearn / fastmlp extra memory: "
              f"{by['sklearn']['extra_mib'] / by['fastmlp']['extra_mib']:.1f}x")
    where = by.get("fastmlp", {}).get("where", "-")
    print(f"peak measured by {rows[0]['method']}; fastmlp from {where}")
    return rows


if __name__ == "__main__":
    main()
