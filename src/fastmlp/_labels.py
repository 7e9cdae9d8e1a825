"""MLPClassifier's labels: y checked, binarized, and held against the
classes of earlier fits (warm_start, partial_fit); a validation set's labels
checked against those of y."""

import numpy as np
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import check_array, validate_data


def validate_input(self, X, y, incremental, reset):
    X, y = validate_data(
        self,
        X,
        y,
        accept_sparse=["csr", "csc"],
        multi_output=True,
        dtype=(np.float64, np.float32),
        reset=reset,
    )
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
        self._label_binarizer = LabelBinarizer()
        self._label_binarizer.fit(y)
        self.classes_ = self._label_binarizer.classes_
        if self._label_binarizer.y_type_ == "multiclass":
            # what transform gives for the labels it was just fitted on
            # (checked in tests/test_multilayer_perceptron.py), without its ~1 ms of
            # repeated target checks: one column per class
            return X, np.asarray(y).reshape(-1, 1) == self.classes_
    else:
        classes = unique_labels(y)
        if self.warm_start:
            if set(classes) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same "
                    "classes as in the previous call to fit. Previously "
                    f"got {self.classes_}, `y` has {classes}"
                )
        elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
            raise ValueError(
                "`y` has classes not in `self.classes_`. "
                f"`self.classes_` has {self.classes_}. 'y' has {classes}."
            )
    y = self._label_binarizer.transform(y).astype(bool)
    return X, y


def validation_targets(self, y_val):
    """y_val checked against the classes of y: (labels, binarized)."""
    y_val = check_array(y_val, ensure_2d=False, dtype=None, input_name="y_val")
    if y_val.ndim == 2 and y_val.shape[1] == 1:
        y_val = column_or_1d(y_val, warn=True)
    lb = self._label_binarizer
    if lb.y_type_.startswith("multilabel"):
        return y_val, lb.transform(y_val)
    unseen = np.setdiff1d(unique_labels(y_val), self.classes_)
    if len(unseen):
        raise ValueError(
            f"y_val has classes not in y: {unseen}; y has {self.classes_}.")
    # lb.transform's values for labels all among the classes, without its
    # checks (~0.4 ms, of a fit that may take tens)
    classes = lb.classes_
    if lb.y_type_ == "multiclass":
        return y_val, (y_val.reshape(-1, 1) == classes).astype(int)
    if len(classes) == 2:
        return y_val, (y_val == classes[1]).astype(int).reshape(-1, 1)
    return y_val, lb.transform(y_val)
