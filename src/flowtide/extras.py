"""The optional parts of flowtide and the extra that installs each.

``pip install flowtide`` brings what the loop's core needs (init, pull, check, run,
status, gate, register, promote, ci, doctor). Serving, model formats, S3, MLflow,
Ray and the examples' data are extras; code that needs one calls :func:`require`
before importing it, so a missing library is a :class:`~flowtide.errors.MissingExtra`
naming the exact ``pip install 'flowtide[...]'`` line, never an ImportError traceback.
"""

from __future__ import annotations

from .errors import MissingExtra

# extra -> the modules it installs (import names), in the order messages name them
EXTRAS: dict[str, tuple[str, ...]] = {
    "serve": ("starlette", "uvicorn", "prometheus_client"),
    "sklearn": ("sklearn", "skops"),
    "onnx": ("onnxruntime", "skl2onnx"),
    "s3": ("s3fs", "obstore"),
    "mlflow": ("mlflow",),
    "ray": ("ray",),
    "river": ("river",),
    "examples": ("vega_datasets", "palmerpenguins", "sklearn", "skops", "starlette", "uvicorn", "prometheus_client"),
}

# import name -> distribution name, where they differ (what a user would pip install)
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "prometheus_client": "prometheus-client"}


def install_line(extra: str) -> str:
    """``pip install 'flowtide[EXTRA]'``: quoted, so shells that glob brackets (zsh) leave it alone."""
    return f"pip install 'flowtide[{extra}]'"


def missing(extra: str, modules: tuple[str, ...] | list[str] | None = None) -> list[str]:
    """The distributions of ``extra`` (or of just ``modules``) that cannot be imported here, without importing them."""
    from importlib.util import find_spec

    absent = []
    for module in modules if modules is not None else EXTRAS[extra]:
        try:
            found = find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package missing, or a module set to None in sys.modules
            found = False
        if not found:
            absent.append(_DISTRIBUTIONS.get(module, module))
    return absent


def require(extra: str, what: str, modules: tuple[str, ...] | list[str] | None = None) -> None:
    """Raise MissingExtra unless the libraries of ``extra`` (or just ``modules`` of it) are installed.

    ``what`` names the feature for the message: "flowtide serve", "model format skops (models/model.skops)".
    """
    absent = missing(extra, modules)
    if absent:
        raise MissingExtra(extra, what, absent)
