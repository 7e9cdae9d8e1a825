#!/usr/bin/env bash
# Install a repaired fastmlp wheel (argument 1) into the python3 on PATH and
# check it: no compiler reachable, the compiled core's OpenMP runtime loaded
# from the wheel's own fastmlp.libs/, a fit and predict that work.
set -euo pipefail
wheel=$1
for cc in cc gcc clang c89 c99 g++ c++ tcc; do
    if command -v "$cc" >/dev/null; then echo "a compiler is on PATH: $cc" >&2; exit 1; fi
done
python3 -m pip install -q "$wheel"
cd /  # not the checkout: the installed package
objective=$(python3 -c "import fastmlp._objective as m; print(m.__file__)")
gomp=$(ldd "$objective" | grep libgomp)
echo "$gomp"
case "$gomp" in
    *fastmlp.libs/libgomp*) ;;
    *) echo "libgomp is not resolved from the wheel's fastmlp.libs/" >&2; exit 1 ;;
esac
python3 - <<'PY'
from sklearn.datasets import load_digits
from fastmlp import MLPClassifier
X, y = load_digits(return_X_y=True)
clf = MLPClassifier((16,), solver="lbfgs", max_iter=100, random_state=1).fit(X / 16, y)
assert clf.score(X / 16, y) > 0.9, clf.score(X / 16, y)
print("repaired wheel: fit and predict work, training accuracy", round(clf.score(X / 16, y), 3))
PY
