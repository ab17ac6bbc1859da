"""The obstore transport of s3:// remotes: blobs moved by the Rust ``object_store`` crate (PyPI ``obstore``).

s3fs goes through botocore, whose request signing, response parsing and
per-part hashing in Python cost more than the transfer itself for small
blobs and cap the throughput of large ones; obstore does the same requests in
Rust and releases the GIL while it waits, so ``Remote``'s thread pool runs the
``-j`` transfers truly in parallel. Only the blob operations go through here
(HEAD, GET, PUT, LIST, DELETE); prediction-log segments and the cleaning of
killed multipart uploads stay on s3fs, which is part of the same extra.

Keys are relative to the remote's prefix (``<hash[:2]>/<hash[2:]>``). Credentials
and the endpoint come from the same places as s3fs's (:mod:`.credentials`),
passed explicitly so that the project's injected environment decides.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["S3Objects", "reason", "usable"]

_PART = 16 << 20  # multipart part size: 64 parts for 1 GiB, each signed and sent on its own
_PART_JOBS = 8  # parts of one upload in flight at once
_STREAM_CHUNK = 8 << 20  # chunk size of a streaming GET


def usable(env: Any) -> bool:
    """obstore is installed and can find the credentials the way s3fs would (it reads no AWS profile)."""
    from importlib.util import find_spec

    if find_spec("obstore") is None:
        return False
    has_keys = bool(env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"))
    return has_keys or not env.get("AWS_PROFILE")


class S3Objects:
    """One bucket and prefix through obstore; every method raises obstore's exceptions (see :func:`reason`)."""

    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None, env: Any) -> None:
        from obstore.store import S3Store

        config: dict[str, Any] = {}
        client: dict[str, Any] = {}
        endpoint = endpoint_url or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
        if endpoint:
            config["endpoint"] = endpoint.rstrip("/")
            if endpoint.startswith("http://"):
                client["allow_http"] = True
        if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
            config["access_key_id"] = env["AWS_ACCESS_KEY_ID"]
            config["secret_access_key"] = env["AWS_SECRET_ACCESS_KEY"]
            if env.get("AWS_SESSION_TOKEN"):
                config["session_token"] = env["AWS_SESSION_TOKEN"]
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if region:
            config["region"] = region
        self.store = S3Store(bucket, prefix=prefix or None, config=config, client_options=client or None)

    def has(self, key: str) -> bool:
        import obstore

        try:
            obstore.head(self.store, key)
        except FileNotFoundError:
            return False
        return True

    def list(self, prefix: str | None = None) -> dict[str, int]:
        """Every object under the prefix (or under ``prefix`` inside it): its key -> size."""
        import obstore

        found: dict[str, int] = {}
        for chunk in obstore.list(self.store, prefix=prefix, chunk_size=1000):
            for meta in chunk:
                found[meta["path"]] = int(meta["size"])
        return found

    def get(self, key: str) -> Iterator[Any]:
        """The object's bytes, streamed (FileNotFoundError when absent); chunks support the buffer protocol."""
        import obstore

        result = obstore.get(self.store, key)
        if result.meta["size"] <= _STREAM_CHUNK:
            yield result.bytes()
            return
        yield from result.stream(min_chunk_size=_STREAM_CHUNK)

    def put_file(self, local: str | os.PathLike[str], key: str, advance: Callable[[int], None] | None) -> None:
        """One PUT, or a multipart upload of 16 MiB parts for larger files (S3 publishes it only when complete)."""
        import obstore

        with open(local, "rb") as handle:
            source: Any = handle if advance is None else _Counted(handle, advance)
            obstore.put(self.store, key, source, chunk_size=_PART, max_concurrency=_PART_JOBS)

    def delete(self, keys: list[str]) -> None:
        import obstore

        obstore.delete(self.store, keys)


class _Counted:
    """A binary file that reports each read to ``advance`` (obstore's put has no progress callback)."""

    def __init__(self, handle: Any, advance: Callable[[int], None]) -> None:
        self._handle = handle
        self._advance = advance

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        if data:
            self._advance(len(data))
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()


_XML_FIELD = re.compile(r"<(Code|Message)>([^<]*)</\1>")
_STATUS = re.compile(r"Server returned non-2xx status code: ([^:]+)")
_AFTER = re.compile(r"after \d+ retries[^-]*- (.*)")
_HOST = re.compile(r"Error performing \w+ (https?://[^/\s]+)")


def reason(exc: BaseException) -> str:
    """One line out of obstore's error text (which ends in a multi-line Rust debug dump and an XML body)."""
    text = str(exc).split("\n\nDebug source", 1)[0]
    fields = dict(_XML_FIELD.findall(text))
    status = _STATUS.search(text)
    if fields or status:
        parts = [status.group(1).strip()] if status else []
        parts += [fields[k] for k in ("Code", "Message") if fields.get(k)]
        return ": ".join(parts)
    retried = _AFTER.search(text)
    if retried:
        host = _HOST.search(text)
        where = f" to {host.group(1)}" if host else ""
        return f"no answer{where} after retries ({retried.group(1).strip()})"
    return text.splitlines()[0] if text else type(exc).__name__
