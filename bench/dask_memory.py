"""Memory of an L-BFGS fit on Dask data that the client never holds.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/dask_memory.py
    python bench/dask_memory.py --rows 1000000     # a smaller run

The data (rows x 200 float64, standard normal, 4e6 rows = 6.4 GB by default)
is generated lazily on a dask.distributed LocalCluster of 2 process workers
with one thread and `--memory-limit` each; the target is a function of the
data computed where the data lives. MLPClassifier(solver="lbfgs") fits it for
`--max-iter` iterations. Reported: the client process's peak resident set
(getrusage), each worker's peak resident set and its limit, the keys a worker
spilled to disk (none, when the data persists in memory), and the fit's time.
"""

import argparse
import resource
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import blas_summary, describe


def _peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _worker_report(dask_worker):
    slow = getattr(dask_worker.data, "slow", {})
    return {"peak_rss": _peak_rss_bytes(), "spilled_keys": len(slow),
            "limit": dask_worker.memory_manager.memory_limit}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--features", type=int, default=200)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--partitions", type=int, default=32)
    parser.add_argument("--memory-limit", default="5.5GB")
    parser.add_argument("--max-iter", type=int, default=3)
    args = parser.parse_args()

    import dask.array as da
    from distributed import Client, LocalCluster
    from sklearn.exceptions import ConvergenceWarning

    from fastmlp import MLPClassifier

    info = describe()
    print(f"CPU: {info['cpu']}; BLAS: {blas_summary(info)}")
    gb = args.rows * args.features * 8 / 1e9
    print(f"{args.rows} x {args.features} float64 ({gb:.2f} GB), {args.partitions} "
          f"partitions, 2 workers x 1 thread, memory_limit {args.memory_limit} each; "
          f"hidden ({args.hidden},), max_iter={args.max_iter}")
    client_before = _peak_rss_bytes()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, memory_limit=args.memory_limit)
    client = Client(cluster)
    try:
        chunk = -(-args.rows // args.partitions)
        X = da.random.RandomState(0).standard_normal((args.rows, args.features),
                                                     chunks=(chunk, args.features))
        y = (X[:, :5].sum(axis=1) > 0).astype(int)
        model = MLPClassifier(solver="lbfgs", hidden_layer_sizes=(args.hidden,),
                              max_iter=args.max_iter, random_state=0)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        elapsed = time.perf_counter() - t0
        workers = client.run(_worker_report)
    finally:
        client.close()
        cluster.close()
    print(f"fit: {elapsed:.1f} s, {model.n_iter_} iterations, loss {model.loss_:.5f}")
    print(f"client peak RSS: {_peak_rss_bytes() / 2**30:.3f} GiB "
          f"(before the cluster started: {client_before / 2**30:.3f} GiB)")
    for address, w in sorted(workers.items()):
        print(f"worker {address}: peak RSS {w['peak_rss'] / 2**30:.3f} GiB of a "
              f"{w['limit'] / 2**30:.3f} GiB limit; spilled keys {w['spilled_keys']}")


if __name__ == "__main__":
    main()
