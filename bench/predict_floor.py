"""Big-batch predict against the BLAS floor (issue 11).

    python bench/predict_floor.py

100000 x 784 normal data, 10 classes, hidden (256,) and (512, 256), float64
and float32, the same weights in both libraries. Prints medians of 7 calls
[min-max] of:
- floor: the bare matrix products of the forward pass (numpy's matmul into
  preallocated outputs, BLAS on all cores);
- fastmlp and sklearn predict_proba;
then, for float64 (256,), the per-call times in order from the first call
(each library's first calls after its model is made), and what first-touching
a fresh array of sklearn's hidden activations (100000 x 256 float64, which
sklearn allocates on every call) costs, against writing it a second time.
"""

import time
import warnings

import numpy as np
import sklearn.neural_network as skn
from threadpoolctl import threadpool_info

import fastmlp

N, D, K = 100_000, 784, 10


def times(fn, repeat=7):
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def fmt(ts):
    return f"{np.median(ts):7.1f} ms [{min(ts):.0f}-{max(ts):.0f}]"


def models(X, hidden, dtype, rng):
    units = [D, *hidden, K]
    coefs = [(rng.standard_normal((a, b)) * 0.05).astype(dtype)
             for a, b in zip(units[:-1], units[1:])]
    intercepts = [np.zeros(b, dtype) for b in units[1:]]
    out = []
    for cls in (fastmlp.MLPClassifier, skn.MLPClassifier):
        model = cls(hidden_layer_sizes=hidden, max_iter=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X[:200], np.arange(200) % K)
        model.coefs_ = [c.copy() for c in coefs]
        model.intercepts_ = [b.copy() for b in intercepts]
        out.append(model)
    return coefs, out


def main():
    blas = sorted({f"{i['internal_api']} {i.get('version')} {i.get('architecture')}, "
                   f"{i['num_threads']} threads"
                   for i in threadpool_info() if i["user_api"] == "blas"})
    print(f"BLAS: {blas}")
    rng = np.random.default_rng(0)
    X64 = rng.standard_normal((N, D))
    first_calls = None
    for dtype in (np.float64, np.float32):
        X = X64.astype(dtype)
        for hidden in ((256,), (512, 256)):
            coefs, (fm, sk) = models(X, hidden, dtype, rng)
            if first_calls is None:
                first_calls = (times(lambda: sk.predict_proba(X), 4),
                               times(lambda: fm.predict_proba(X), 4))
            outs = [np.empty((N, c.shape[1]), dtype) for c in coefs]

            def floor():
                a = X
                for c, o in zip(coefs, outs):
                    np.matmul(a, c, out=o)
                    a = o

            floor()
            t_floor = times(floor)
            t_fm = times(lambda: fm.predict_proba(X))
            t_sk = times(lambda: sk.predict_proba(X))
            print(f"{np.dtype(dtype).name} {hidden!s:10s} floor {fmt(t_floor)}  fastmlp "
                  f"{fmt(t_fm)}  sklearn {fmt(t_sk)}  fastmlp/floor "
                  f"{np.median(t_fm) / np.median(t_floor):.2f}  sklearn/fastmlp "
                  f"{np.median(t_sk) / np.median(t_fm):.2f}  floor/sklearn "
                  f"{np.median(t_floor) / np.median(t_sk):.2f}")
    print("float64 (256,), first calls in order (ms): sklearn "
          + " ".join(f"{t:.0f}" for t in first_calls[0])
          + "; fastmlp " + " ".join(f"{t:.0f}" for t in first_calls[1]))
    for _ in range(3):
        t0 = time.perf_counter()
        a = np.empty((N, 256))
        a[...] = 1.0
        t1 = time.perf_counter()
        a[...] = 2.0
        t2 = time.perf_counter()
        del a
        print(f"a fresh 100000 x 256 float64 array: first write {(t1 - t0) * 1e3:.0f} ms, "
              f"second {(t2 - t1) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
