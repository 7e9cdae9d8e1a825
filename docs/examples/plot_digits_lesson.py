"""
The digits lesson: an MLP against an SVC
========================================

fastmlp's first benchmark: a one-hidden-layer MLP (16 or 64 units, L-BFGS, 100 iterations) on
scikit-learn's digits, compared with an SVC on accuracy and on the numbers each model stores
(an MLP's weights and biases; an SVC's support vectors).
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from fastmlp import MLPClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, test_size=0.25, random_state=0)

models = {
    "MLP (16,)": MLPClassifier((16,), solver="lbfgs", max_iter=100, random_state=1),
    "MLP (64,)": MLPClassifier((64,), solver="lbfgs", max_iter=100, random_state=1),
    "SVC": SVC(gamma=0.001 * 16**2),
}
accuracy, stored = {}, {}
for name, model in models.items():
    model.fit(X_train, y_train)
    accuracy[name] = model.score(X_test, y_test)
    if name == "SVC":
        stored[name] = model.support_vectors_.size
    else:
        stored[name] = sum(w.size for w in model.coefs_) + sum(b.size for b in model.intercepts_)
    print(f"{name:10s} accuracy {accuracy[name]:.3f}, stored numbers {stored[name]}")

# %%
# The MLP with 16 hidden units stores a few percent of what the SVC keeps, for a few points of
# accuracy.

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3))
ax1.bar(list(accuracy), list(accuracy.values()), color="tab:blue")
ax1.set_ylim(0.8, 1.0)
ax1.set_title("test accuracy")
ax2.bar(list(stored), list(stored.values()), color="tab:orange")
ax2.set_title("stored numbers")
fig.tight_layout()
plt.show()
