"""Which types a skops model file may contain, by exact name, and a check of the trees it carries.

skops rebuilds an artifact by importing every type it names and calling it, so a
name is code: ``numpy.testing._private.utils.runstring`` is ``exec``. flowtide
trusts a type only when its exact name is a class on the built-in list below (the
scikit-learn estimators plus the internal classes fitted estimators hold), or is
listed by the user in ``model.trusted_types``. Functions, methods and
constructors that are not listed classes are refused before anything is imported.

Trees store raw node indices that scikit-learn follows without bounds checks, so
a crafted file with trusted types could still crash the server at its first
prediction; :func:`check_structure` refuses such trees after loading.
"""

from __future__ import annotations

import functools
from typing import Any

# Classes fitted estimators hold that skops does not trust by default (what
# skops.io.get_untrusted_types reports for real models), each reviewed: plain data
# holders whose construction runs no user-supplied code.
TRUSTED_CLASSES = (
    "numpy.dtype",
    "sklearn.tree._tree.Tree",  # node indices checked by check_structure
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",  # likewise
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.cluster._bisect_k_means._BisectingTree",
    "sklearn.gaussian_process._gpc._BinaryGaussianProcessClassifierLaplace",
    "scipy.interpolate._bsplines.BSpline",
)

# Modules whose own classes are all data holders (losses, links, kernels, distance
# metrics, optimisers); every class defined there is trusted except those that wrap
# a Python callable.
TRUSTED_CLASS_MODULES = (
    "sklearn._loss.loss",
    "sklearn._loss.link",
    "sklearn.gaussian_process.kernels",
    "sklearn.metrics._dist_metrics",
    "sklearn.neural_network._stochastic_optimizers",
)
_EXCLUDED = frozenset(
    {"sklearn.metrics._dist_metrics.PyFuncDistance32", "sklearn.metrics._dist_metrics.PyFuncDistance64"}
)

# Why some types a user may meet are left off the list (shown with the refusal).
KNOWN_RISKS = {
    "sklearn.neighbors._kd_tree.KDTree": "its node arrays are used without bounds checks, "
    "so a crafted file can crash the server or read its memory",
    "sklearn.neighbors._ball_tree.BallTree": "its node arrays are used without bounds checks, "
    "so a crafted file can crash the server or read its memory",
}


@functools.cache
def builtin_trusted() -> frozenset[str]:
    """Exact names of the classes a skops artifact may contain without review."""
    import importlib
    import inspect

    from sklearn.utils import all_estimators

    names = {f"{cls.__module__}.{cls.__name__}" for _, cls in all_estimators()}
    for module_name in TRUSTED_CLASS_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # another scikit-learn version: its classes are simply not listed
            continue
        names |= {
            f"{module_name}.{name}"
            for name, obj in vars(module).items()
            if inspect.isclass(obj) and obj.__module__ == module_name
        }
    names |= {name for name in TRUSTED_CLASSES if _is_class(name)}
    return frozenset(names - _EXCLUDED)


def _is_class(name: str) -> bool:
    import importlib
    import inspect

    module_name, _, attr = name.rpartition(".")
    try:
        return inspect.isclass(getattr(importlib.import_module(module_name), attr))
    except (ImportError, AttributeError):
        return False


def refused(untrusted: list[str], extra: list[str]) -> list[str]:
    """The names of ``untrusted`` that are neither built-in trusted classes nor listed in ``extra``."""
    allowed = set(extra)
    return sorted({name for name in untrusted if name not in allowed and name not in builtin_trusted()})


def explain(names: list[str]) -> str:
    """Known risks of refused types, one sentence each ("" when none is known)."""
    return " ".join(f"{name}: {KNOWN_RISKS[name]}." for name in names if name in KNOWN_RISKS)


# --- tree structure -------------------------------------------------------------


class MalformedModel(ValueError):
    """A loaded estimator holds a tree whose indices would be followed out of bounds."""


def check_structure(estimator: Any) -> None:
    """Refuse trees whose child or feature indices scikit-learn would follow out of bounds.

    Checks every ``sklearn.tree._tree.Tree`` and every HistGradientBoosting
    ``TreePredictor`` reachable from ``estimator``: children come after their parent
    and inside the node array (so traversal ends), features stay below the number of
    columns the owning estimator validates at predict time.
    """
    import numpy as np
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    for owner in _objects(estimator):
        if isinstance(owner, Tree):
            _check_tree(owner)
        elif isinstance(owner, TreePredictor):
            _check_predictor(owner, None)
        n_in = getattr(owner, "n_features_in_", None)
        if not isinstance(n_in, (int, np.integer)):
            continue
        tree = getattr(owner, "tree_", None)
        if isinstance(tree, Tree) and tree.n_features != n_in:
            raise MalformedModel(f"{_name(owner)} has {n_in} input features but its tree has {tree.n_features}")
        members = list(_flat(getattr(owner, "estimators_", None)))
        subsets = getattr(owner, "estimators_features_", None)
        if subsets is not None and len(subsets) != len(members):
            raise MalformedModel(f"{_name(owner)} has {len(members)} estimators but {len(subsets)} feature subsets")
        for index, member in enumerate(members):
            if not isinstance(getattr(member, "tree_", None), Tree):
                continue
            expected = len(subsets[index]) if subsets is not None else int(n_in)
            if getattr(member, "n_features_in_", None) != expected:
                raise MalformedModel(
                    f"{_name(owner)} estimator {index} expects {getattr(member, 'n_features_in_', None)} "
                    f"features but is given {expected}"
                )
        for predictor in _flat(getattr(owner, "_predictors", None)):
            if isinstance(predictor, TreePredictor):
                limit = int(n_in)
                categorical = getattr(getattr(owner, "_bin_mapper", None), "is_categorical_", None)
                if categorical is not None:
                    limit = min(limit, len(categorical))
                _check_predictor(predictor, limit)


def _check_tree(tree) -> None:
    import numpy as np

    count, capacity = int(tree.node_count), int(tree.capacity)
    if not 0 < count <= capacity:
        raise MalformedModel(f"sklearn.tree._tree.Tree has {count} nodes in room for {capacity}")
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    index = np.arange(count)
    split = left != -1
    bad = split & ((left <= index) | (left >= count) | (right <= index) | (right >= count))
    bad |= split & ((feature < 0) | (feature >= tree.n_features))
    bad |= ~split & (right != -1)
    if bad.any():
        node = int(np.flatnonzero(bad)[0])
        raise MalformedModel(
            f"sklearn.tree._tree.Tree node {node} of {count} has children {int(left[node])}, {int(right[node])} "
            f"and feature {int(feature[node])} (the tree has {tree.n_features} features)"
        )


def _check_predictor(predictor, n_features: int | None) -> None:
    import numpy as np
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    nodes = predictor.nodes
    name = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
    if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE or nodes.ndim != 1 or not len(nodes):
        raise MalformedModel(f"{name} nodes are not a non-empty array of predictor records")
    count = len(nodes)
    index = np.arange(count)
    split = nodes["is_leaf"] == 0
    left, right = nodes["left"].astype(np.int64), nodes["right"].astype(np.int64)
    feature = nodes["feature_idx"]
    bad = split & ((left <= index) | (left >= count) | (right <= index) | (right >= count) | (feature < 0))
    if n_features is not None:
        bad |= split & (feature >= n_features)
    categorical = split & (nodes["is_categorical"] != 0)
    for bitsets in (predictor.raw_left_cat_bitsets, predictor.binned_left_cat_bitsets):
        rows = bitsets.shape[0] if isinstance(bitsets, np.ndarray) and bitsets.ndim == 2 else 0
        bad |= categorical & (nodes["bitset_idx"] >= rows)
    if bad.any():
        node = int(np.flatnonzero(bad)[0])
        raise MalformedModel(
            f"{name} node {node} of {count} has children {int(left[node])}, {int(right[node])} "
            f"and feature {int(feature[node])}" + (f" (the model has {n_features} features)" if n_features else "")
        )


def _name(obj: Any) -> str:
    return type(obj).__name__


def _flat(value: Any):
    """Items of nested lists, tuples and object arrays (estimators_, _predictors)."""
    import numpy as np

    if isinstance(value, np.ndarray) and value.dtype == object:
        yield from (item for item in value.ravel())
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _flat(item)
    elif value is not None:
        yield value


def _objects(root: Any):
    """Every object reachable from ``root`` through containers and scikit-learn objects' attributes."""
    import numpy as np

    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, bool)):
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend(obj.ravel().tolist())
            continue
        yield obj
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif type(obj).__module__.startswith("sklearn") and hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())
