"""The remote side of the store: any fsspec URL (s3://, gs://, file://, a local path).

The remote mirrors the local store's layout, ``<prefix>/<hash[:2]>/<hash[2:]>``,
and keeps the replicas' prediction log segments under ``<prefix>/predictions/``.
Every access to it goes through :class:`Remote` (``base``): one place for
credentials (``credentials``), ``store.endpoint_url`` and paths relative to the
project. ``batch`` moves many blobs in parallel and holds ``auto_push``.
"""

from __future__ import annotations

from .base import Remote
from .batch import TransferResult, auto_push, download_many, upload_many

__all__ = ["Remote", "TransferResult", "auto_push", "download_many", "upload_many"]
