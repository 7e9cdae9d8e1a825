"""
Serving through ONNX Runtime
============================

``import fastmlp.onnx`` registers both estimators with skl2onnx, so a fitted model exports like
scikit-learn's own and serves from ONNX Runtime with the same probabilities.
"""

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as ort
import skl2onnx
from sklearn.datasets import load_digits

import fastmlp.onnx  # noqa: F401  (registers the converters)
from fastmlp import MLPClassifier

X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
clf = MLPClassifier((32,), solver="adam", max_iter=50, random_state=0).fit(X, y)

onx = skl2onnx.to_onnx(clf, X[:1], options={id(clf): {"zipmap": False}})
session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
labels, proba = session.run(None, {session.get_inputs()[0].name: X})
gap = np.abs(proba - clf.predict_proba(X)).max()
print(f"largest probability difference, ONNX Runtime vs fastmlp: {gap:.1e}")
print(f"labels equal: {bool((labels == clf.predict(X)).all())}")

# %%
fig, ax = plt.subplots(figsize=(4, 3))
ax.hist(np.abs(proba - clf.predict_proba(X)).ravel(), bins=30, log=True)
ax.set_xlabel("|ONNX Runtime - fastmlp| per probability")
fig.tight_layout()
plt.show()
