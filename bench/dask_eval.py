"""Time of one L-BFGS loss+gradient evaluation: Dask against in memory.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/dask_eval.py
    python bench/dask_eval.py --rows 20000 --repeats 5     # a quick look

The data (rows x features float64, standard normal; 10 classes) is generated
on a dask.distributed LocalCluster of `--workers` process workers with one
thread each, in `--partitions` partitions; the same rows are gathered to this
process for the in-memory side. Measured, each in its own block of repeats
(OpenMP and BLAS threads keep spinning after their work, so interleaving
would distort both sides):

1. in memory, Workspace.loss_grad over all rows on `--threads` threads (what
   MLPClassifier(solver="lbfgs").fit runs per evaluation), and on 1 thread
   (the per-row kernel time of a one-thread worker);
2. on Dask, fastmlp._dask.DaskObjective (what fit runs per evaluation:
   the parameters sent once, one task per partition, sums gathered and added);
3. the overhead alone: the same network on 2 and on 8 partitions of 8 rows
   each, so the evaluation is scheduling, the parameters' transfer and the
   gradients' return: a fixed part and a part per partition.

Prints the machine (CPU, BLAS), the median, min and max of each, and the
on-paper time per evaluation for `--paper-rows` rows on 1, 8, 64 and 512
one-thread workers (one partition each) from these measurements:
  per-row kernel time (1 thread) x rows / workers
  + fixed overhead + per-partition overhead x workers
  + 2 x (parameters x 8 bytes) / bandwidth x workers (the parameters out to
    each worker and its gradient back through the client's link, at
    `--bandwidth-gbit`; on one machine that transfer is inside the measured
    per-partition overhead already).
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import blas_summary, describe


def _times(fn, repeats):
    fn()  # warm-up: workspaces, OpenMP team, first transfers
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _summary(name, times):
    med = statistics.median(times)
    print(f"{name:<46} median {med * 1e3:9.2f} ms   min {min(times) * 1e3:9.2f}   "
          f"max {max(times) * 1e3:9.2f}   (n={len(times)})")
    return {"median_s": med, "min_s": min(times), "max_s": max(times), "n": len(times)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200000)
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="in-memory threads")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--paper-rows", type=float, default=1e8)
    parser.add_argument("--bandwidth-gbit", type=float, default=10.0)
    parser.add_argument("--only", choices=("dask", "memory"),
                        help="measure one side only (the same data: Dask's random arrays "
                             "do not depend on the scheduler)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    from fastmlp import MLPClassifier, _dask
    from fastmlp._network import make_layout
    from fastmlp._threads import BLAS_LIMIT

    info = describe()
    print(f"CPU: {info['cpu']} ({info['logical_cpus']} logical, "
          f"{info['physical_cores']} physical); BLAS: {blas_summary(info)}")
    n, f, h, k = args.rows, args.features, args.hidden, 10
    print(f"{n} x {f} float64, hidden ({h},), {k} classes; {args.workers} workers x 1 "
          f"thread, {args.partitions} partitions; in memory {args.threads} threads")
    units = [f, h, k]
    layout = make_layout(units, "relu", "softmax", np.float64)
    spec = (tuple(units), "relu", "softmax", np.dtype(np.float64).str)
    params = np.random.RandomState(1).uniform(-0.05, 0.05, layout.n_params)
    grad = np.empty_like(params)
    results = {"machine": info, "args": vars(args)}

    chunk = -(-n // args.partitions)
    if args.only == "memory":
        with dask.config.set(scheduler="threads"):
            X = da.random.RandomState(0).standard_normal((n, f), chunks=(chunk, f)).compute()
            y = da.random.RandomState(1).randint(0, k, size=n, chunks=chunk).compute()
        Y = (y.reshape(-1, 1) == np.arange(k)).astype(np.float64)
        _in_memory(args, layout, params, grad, X, Y, results)
        return _report(args, layout, results)
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, memory_limit=0)
    client = Client(cluster)
    try:
        Xd = da.random.RandomState(0).standard_normal((n, f), chunks=(chunk, f))
        yd = da.random.RandomState(1).randint(0, k, size=n, chunks=chunk)
        Xd, yd = dask.persist(Xd, yd)
        est = MLPClassifier()
        data = _dask._prepare(est, Xd, yd, None, first_pass=True)
        objective = _dask.DaskObjective(data, layout, spec, 1e-4, client)
        with BLAS_LIMIT:
            results["dask"] = _summary(
                "dask: DaskObjective (one evaluation)",
                _times(lambda: objective(params, grad), args.repeats))
        objective.close()

        for n_parts in (2, 8):
            small = da.random.RandomState(2).standard_normal((8 * n_parts, f),
                                                             chunks=(8, f))
            small_y = da.from_array(np.arange(8 * n_parts) % k, chunks=8)
            small_data = _dask._prepare(MLPClassifier(), small, small_y, None,
                                        first_pass=True)
            overhead = _dask.DaskObjective(small_data, layout, spec, 1e-4, client)
            with BLAS_LIMIT:
                results[f"overhead_{n_parts}"] = _summary(
                    f"dask overhead: {n_parts} partitions of 8 rows",
                    _times(lambda: overhead(params, grad), args.repeats * 3))
            overhead.close()

        # the same rows, in this process
        if args.only != "dask":
            X = Xd.compute()
            Y = np.asarray(est._label_binarizer.transform(yd.compute()), dtype=np.float64)
    finally:
        client.close()
        cluster.close()
    if args.only != "dask":
        _in_memory(args, layout, params, grad, X, Y, results)
    _report(args, layout, results)


def _in_memory(args, layout, params, grad, X, Y, results):
    from fastmlp._network import make_dataset
    from fastmlp._objective import Workspace
    from fastmlp._threads import BLAS_LIMIT

    n = X.shape[0]
    data = make_dataset(X, Y, None, np.float64)
    for threads in (args.threads, 1):
        ws = Workspace(layout, threads, np.float64, True)
        with BLAS_LIMIT:
            results[f"memory_{threads}t"] = _summary(
                f"in memory: Workspace.loss_grad, {threads} thread(s)",
                _times(lambda: ws.loss_grad(params, grad, data, 1e-4, float(n)),
                       args.repeats))


def _report(args, layout, results):
    n, f, h, k = args.rows, args.features, args.hidden, 10
    if "dask" in results and f"memory_{args.threads}t" in results:
        ratio = results["dask"]["median_s"] / results[f"memory_{args.threads}t"]["median_s"]
        print(f"dask / in memory ({args.threads} threads): {ratio:.3f}")
        results["ratio"] = ratio
    if "memory_1t" in results:
        per_row = results["memory_1t"]["median_s"] / n
        print(f"per-row kernel time, 1 thread: {per_row * 1e6:.3f} us")
        results["per_row_1t_s"] = per_row
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    if "memory_1t" not in results or "overhead_2" not in results:
        return
    o2, o8 = results["overhead_2"]["median_s"], results["overhead_8"]["median_s"]
    per_part = max(0.0, (o8 - o2) / 6)
    fixed = max(0.0, o2 - 2 * per_part)
    link = 2 * layout.n_params * 8 / (args.bandwidth_gbit * 1e9 / 8)
    print(f"overhead: fixed {fixed * 1e3:.1f} ms + {per_part * 1e3:.2f} ms per partition "
          f"(measured); + {link * 1e3:.2f} ms per worker over a {args.bandwidth_gbit:g} "
          f"Gbit/s link (on paper)")
    print(f"on paper, {args.paper_rows:.0e} rows x {f}, hidden ({h},), {k} classes, one "
          "partition per one-thread worker:")
    print("| workers | rows per worker | kernel | overhead | per evaluation |")
    print("|---:|---:|---:|---:|---:|")
    paper = {}
    for workers in (1, 8, 64, 512):
        kernel = per_row * args.paper_rows / workers
        over = fixed + (per_part + link) * workers
        paper[workers] = kernel + over
        print(f"| {workers} | {args.paper_rows / workers:.3g} | {kernel:.2f} s | "
              f"{over * 1e3:.0f} ms | {kernel + over:.2f} s |")
    results["paper"] = {"fixed_s": fixed, "per_partition_s": per_part, "link_s": link,
                        "per_evaluation_s": paper}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
