"""
Fitting on a Dask cluster
=========================

On Dask input the same estimator trains where the data lives: L-BFGS sums each partition's loss
and gradient on the workers (one round trip per evaluation), and ``predict`` is lazy and
block-wise. Here a two-worker ``LocalCluster`` stands in for a real cluster.
"""

import dask.array as da
import matplotlib.pyplot as plt
from distributed import Client, LocalCluster
from sklearn.datasets import make_classification

from fastmlp import MLPClassifier

if __name__ == "__main__":  # process workers import this file: start the cluster once
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
    client = Client(cluster)

    X_np, y_np = make_classification(n_samples=20000, n_features=20, n_informative=10,
                                     random_state=0)
    X = da.from_array(X_np, chunks=5000)
    y = da.from_array(y_np, chunks=5000)

    clf = MLPClassifier((32,), solver="lbfgs", max_iter=50, random_state=0).fit(X, y)
    print(f"{clf.n_iter_} L-BFGS iterations, final loss {clf.loss_:.4f}")
    print(f"accuracy on the cluster: {clf.score(X, y):.3f}")
    labels = clf.predict(X)  # lazy: computed block by block
    print("predicted labels:", labels[:10].compute())

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(clf.loss_curve_)
    ax.set_xlabel("L-BFGS iteration")
    ax.set_ylabel("training loss")
    fig.tight_layout()
    plt.show()

    client.close()
    cluster.close()
