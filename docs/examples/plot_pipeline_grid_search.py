"""
A Pipeline and GridSearchCV
===========================

fastmlp's estimators are scikit-learn estimators: they go into a ``Pipeline``, are cloned and
searched by ``GridSearchCV`` (here over the hidden layer and the L2 penalty), and the search's
jobs share the cores without oversubscribing them.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastmlp import MLPClassifier

X, y = load_digits(return_X_y=True)
pipe = make_pipeline(StandardScaler(),
                     MLPClassifier(solver="lbfgs", max_iter=400, random_state=1))
grid = {"mlpclassifier__hidden_layer_sizes": [(8,), (16,), (32,)],
        "mlpclassifier__alpha": [1e-4, 1e-2, 1.0]}
search = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X, y)
print("best parameters:", search.best_params_)
print(f"best cross-validated accuracy: {search.best_score_:.3f}")

# %%
# The mean cross-validated accuracy over the grid:

scores = search.cv_results_["mean_test_score"].reshape(3, 3)
fig, ax = plt.subplots(figsize=(4, 3))
image = ax.imshow(scores, vmin=scores.min(), vmax=1)
ax.set_xticks(range(3), labels=["1e-4", "1e-2", "1"])
ax.set_yticks(range(3), labels=["(8,)", "(16,)", "(32,)"])
ax.set_xlabel("alpha")
ax.set_ylabel("hidden_layer_sizes")
for (i, j), s in np.ndenumerate(scores):
    ax.text(j, i, f"{s:.3f}", ha="center", va="center", color="w")
fig.colorbar(image)
fig.tight_layout()
plt.show()
