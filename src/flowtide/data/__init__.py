"""The data layer: source readers (one per URL scheme, plugged in by entry point) and ``pull``.

:mod:`flowtide.data.sources` reads a source's current bytes into the store;
:mod:`flowtide.data.pull` checks them, materialises them and moves the lock.
The data tests themselves live in :mod:`flowtide.checks`. Importing this
package loads nothing heavy.
"""

from __future__ import annotations

__all__ = ["pull", "sources"]
