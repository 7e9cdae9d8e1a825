"""Where a CSR evaluation's time goes, next to a memory-traffic floor (issue 14).

    python bench/sparse_floor.py [--dtype float32] [--threads N]

CSR 20000 x 10000 at 1% density, 10 classes, hidden (256,) (the
bench/test_bench_sparse.py problem). Prints, medians of 7 runs:
- the machine's memory bandwidth: numpy's copy of a 512 MiB array (bytes
  read + written over time) and its sum (bytes read over time);
- the bytes one loss + gradient evaluation must move at least, and their
  time at that bandwidth: X's values and indices read twice (forward and
  backward), the first layer's weights read once and its gradient written
  once, the hidden and output activations written and read once;
- the evaluation's time (Workspace.loss_grad) and the forward pass alone,
  split into: the first layer's sparse product (forward pass minus the same
  network on one dense feature), the rest of the network (the one-feature
  network's loss + gradient), the reduction of the per-thread gradient
  accumulators (adding them, timed in numpy), and the backward scatter into
  the first layer's gradient (what remains).
"""

import argparse
import time

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_info, threadpool_limits

from fastmlp._network import as_kernel_input, make_dataset, make_layout, nnz_per_row
from fastmlp._objective import Workspace
from fastmlp._threads import effective_n_threads


def median_time(fn, repeat=7):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bandwidth():
    a = np.ones(64 << 20)  # 512 MiB of float64
    b = np.empty_like(a)
    copy = 2 * a.nbytes / median_time(lambda: np.copyto(b, a), 5)
    read = a.nbytes / median_time(lambda: a.sum(), 5)
    return copy, read


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)
    n, d, h, k = 20_000, 10_000, 256, 10
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(sp.random_array((n, d), density=0.01, format="csr", rng=rng,
                                      dtype=np.float64).astype(dtype))
    Y = np.eye(k, dtype=dtype)[rng.integers(0, k, n)]
    with threadpool_limits(args.threads):
        nt = effective_n_threads()
        blas = [f"{i['internal_api']} {i.get('version')} {i.get('architecture')}"
                for i in threadpool_info() if i["user_api"] == "blas"]
        print(f"threads {nt}, dtype {dtype}, BLAS {sorted(set(blas))}")
        copy_bw, read_bw = bandwidth()
        print(f"bandwidth: copy {copy_bw / 1e9:.1f} GB/s (read + write), sum {read_bw / 1e9:.1f}"
              " GB/s (read)")

        def problem(Xk, units):
            layout = make_layout(units, "relu", "softmax", dtype, nnz_per_row=nnz_per_row(Xk))
            data = make_dataset(Xk, Y, None, dtype)
            params = (rng.standard_normal(layout.n_params) * 0.05).astype(dtype)
            grad = np.empty_like(params)
            ws = Workspace(layout, nt, dtype, True)
            fws = Workspace(layout, nt, dtype, False)
            out = np.empty((n, k), dtype)
            return (lambda: ws.loss_grad(params, grad, data, 1e-4, n),
                    lambda: fws.forward(params, data, out), layout)

        Xk = as_kernel_input(X, dtype)
        full, forward, layout = problem(Xk, [d, h, k])
        rest, rest_forward, _ = problem(np.ones((n, 1), dtype), [1, h, k])
        t_full, t_fwd = median_time(full), median_time(forward)
        t_rest, t_rest_fwd = median_time(rest), median_time(rest_forward)
        acc = [np.ones(d * h, dtype) for _ in range(nt)]
        t_reduce = 0.0
        if nt > 1:
            t_reduce = median_time(lambda: [np.add(acc[0], a, out=acc[0]) for a in acc[1:]])

    it = dtype.itemsize
    x_bytes = X.nnz * (it + 8)  # values and intp indices
    floor_bytes = 2 * x_bytes + 2 * d * h * it + 2 * n * (h + k) * it
    print(f"chunk {layout.chunk} rows; X {X.nnz} nonzeros")
    print(f"floor: {floor_bytes / 1e6:.0f} MB per evaluation -> "
          f"{floor_bytes / copy_bw * 1e3:.1f} ms at the copy bandwidth")
    t_product = t_fwd - t_rest_fwd
    t_scatter = t_full - t_fwd - (t_rest - t_rest_fwd) - t_reduce
    print(f"evaluation {t_full * 1e3:.1f} ms ({t_full * copy_bw / floor_bytes:.0f}x the floor);"
          f" forward pass {t_fwd * 1e3:.1f} ms")
    print(f"  forward sparse product   {t_product * 1e3:7.1f} ms")
    print(f"  backward sparse scatter  {t_scatter * 1e3:7.1f} ms")
    print(f"  gradient reduction       {t_reduce * 1e3:7.1f} ms ({nt} threads)")
    print(f"  rest of the network      {t_rest * 1e3:7.1f} ms (hidden and output layers)")
    flops = 2 * 2 * X.nnz * h
    print(f"  sparse products: {flops / 1e9:.2f} GFLOP, "
          f"{flops / (t_product + t_scatter) / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
