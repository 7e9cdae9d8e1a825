"""Writes docs/validation_curves.png: the training and validation loss per
iteration of digits fits with a validation set (fastmlp's X_val), for adam
(per epoch) and L-BFGS (per iteration, with early stopping on the set).

    python docs/validation_curves.py   (needs matplotlib: the bench extra)
"""

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier

OUT = Path(__file__).resolve().parent / "validation_curves.png"

X, y = load_digits(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X / 16, y, test_size=0.3, random_state=0)
fits = {
    "adam, (64,), per epoch": MLPClassifier(
        hidden_layer_sizes=(64,), solver="adam", max_iter=150, alpha=0.0, random_state=0),
    "L-BFGS, (64,), early_stopping=True": MLPClassifier(
        hidden_layer_sizes=(64,), solver="lbfgs", max_iter=300, alpha=0.0, tol=1e-3,
        early_stopping=True, n_iter_no_change=20, random_state=0),
}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for ax, (title, clf) in zip(axes, fits.items()):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train, X_val=X_val, y_val=y_val)
    steps = range(1, clf.n_iter_ + 1)
    ax.semilogy(steps, clf.loss_curve_, label="training loss (loss_curve_)")
    ax.semilogy(steps, clf.validation_loss_curve_, label="validation loss")
    best = max(range(clf.n_iter_), key=clf.validation_scores_.__getitem__)
    ax.axvline(best + 1, color="grey", ls=":", label="best validation score")
    ax.set(title=title, xlabel="iteration", ylabel="log-loss")
    ax.legend(fontsize=8)
fig.suptitle("digits, 30% held out as X_val")
fig.tight_layout()
fig.savefig(OUT, dpi=90)
print("wrote", OUT)
