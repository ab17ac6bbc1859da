"""Keeping pandas and pyarrow out of a server process (and letting them back in for ``python`` models).

Its own small module because both the server runner (``server.py``) and the
model loader (``follow.py``) need it, and neither may import the other.
"""

from __future__ import annotations

import sys


class _Refuse:
    """The loader of a kept-out module: importing it fails with a plain ImportError."""

    def create_module(self, spec):
        raise ImportError(f"{spec.name} is kept out of the flowtide server process")

    def exec_module(self, module):  # never reached: create_module refused
        raise ImportError(f"{module.__name__} is kept out of the flowtide server process")


class _KeepOut:
    """A meta path finder that refuses to import pandas and pyarrow (they stay absent, not None).

    It answers ``find_spec`` with a spec whose loader refuses, rather than raising there:
    libraries that only probe whether pandas exists (polars does, when it is first
    imported) must not fail; an actual ``import pandas`` does.
    """

    names = ("pandas", "pyarrow")

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            from importlib.machinery import ModuleSpec

            return ModuleSpec(name, _Refuse())
        return None


_KEEP_OUT = _KeepOut()


def lean_imports() -> None:
    """Keep pandas (and pyarrow) out of a server process: sklearn imports them when installed.

    The server builds numpy arrays from JSON rows and never a DataFrame; without
    pandas a worker needs ~70 MiB less memory and starts faster. A ``python``-format
    model that wants pandas gets it back (see ``RegistryWatch.load``).
    """
    if not any(name in sys.modules for name in _KeepOut.names) and _KEEP_OUT not in sys.meta_path:
        sys.meta_path.insert(0, _KEEP_OUT)


def allow_pandas() -> None:
    if _KEEP_OUT in sys.meta_path:
        sys.meta_path.remove(_KEEP_OUT)
