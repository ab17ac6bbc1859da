"""Source readers: one tiny contract per kind of source URL (http(s), local path, any fsspec URL).

A reader puts the source's current bytes into the store and returns their hash,
or says "not modified" when the validators it was given still hold (HTTP
ETag / Last-Modified, a local file's stat, an fsspec ``ukey``). It never touches
the working tree or the lock: that is :mod:`flowtide.data.pull`'s job.
(Named *reader*, not fetcher: ``flowtide fetch`` is the command that copies
blobs from the remote store, a different thing.)
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .. import plugins
from ..errors import SourceError
from ..progress import counter

if TYPE_CHECKING:
    from ..atomic import GrowingCopy
    from ..progress import Progress
    from ..store import Store

BACKOFF = 0.5  # seconds before the first retry; doubled each time
MAX_BACKOFF = 8.0
_RETRY_STATUS = {408, 425, 429}


@dataclass
class ReadRequest:
    """Everything a reader needs to know about one source."""

    name: str
    url: str
    store: Store
    base_dir: Path
    """Local paths in ``url`` are relative to this (the project root)."""
    timeout: float = 30.0
    retries: int = 3
    headers: dict[str, str] = field(default_factory=dict)
    validators: dict[str, str] = field(default_factory=dict)
    """``etag`` / ``last_modified`` of the bytes we already have; empty to force a full read."""
    on_progress: Progress | None = None
    """Told the bytes received so far (:mod:`flowtide.progress`); None reports nothing."""
    backoff: float = BACKOFF
    copy_to: Path | None = None
    """Where the bytes go in the working tree if they are new: a reader may copy them there as they
    arrive (``store.writer(copy_to=...)``) and hand the copy back in ``ReadResult.copy``."""


@dataclass
class ReadResult:
    """What a reader found: new bytes in the store, or ``not_modified``."""

    not_modified: bool
    hash: str | None = None
    size: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    attempts: int = 1
    copy: GrowingCopy | None = None
    """The bytes already copied for ``request.copy_to`` (placed or discarded by the caller); None: the
    caller copies them from the store."""


class SourceReader(Protocol):
    """The contract every kind of source implements (the conformance suite: tests/conformance/test_sources.py).

    A class registered in the ``flowtide.sources`` entry-point group under a URL
    scheme; flowtide makes one with no arguments per source and calls ``read``:

    - put the bytes the URL names now into ``request.store`` (``store.writer()``
      discards a blob unless committed, so a failure leaves nothing behind) and
      return ``ReadResult(not_modified=False, hash=..., size=..., etag=...)``;
    - or, when ``request.validators`` (the ``etag`` / ``last_modified`` this
      reader returned last time) prove the bytes unchanged, return
      ``ReadResult(not_modified=True, ...)`` without reading them;
    - always hand back at least one validator (``etag`` or ``last_modified``);
    - optionally, write with ``store.writer(copy_to=request.copy_to)`` and return the
      writer's ``copy`` in ``ReadResult.copy``: the working-tree copy is then made while
      the bytes arrive instead of from the store afterwards;
    - raise :class:`~flowtide.errors.SourceError` (or :class:`RetryableError`
      inside :func:`with_retries`) for a fault: never touch the working tree or the lock.
    """

    def read(self, request: ReadRequest) -> ReadResult: ...


class RetryableError(Exception):
    """A fault worth another try (connection, timeout, 5xx, truncated body)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- choosing a reader ---------------------------------------------------------

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
FALLBACK = "fsspec"
"""The registered name of the reader for URL schemes no reader is registered for."""


def kind_of(url: str) -> str:
    """``http``, ``local`` or ``fsspec`` for a source URL."""
    match = _URL.match(url)
    if not match:
        return "local"
    scheme = match.group(1).lower()
    if scheme in ("http", "https"):
        return "http"
    if scheme == "file":
        return "local"
    return "fsspec"


def scheme_of(url: str) -> str:
    """The URL's scheme, lower case; ``file`` for a plain path."""
    match = _URL.match(url)
    return match.group(1).lower() if match else "file"


def reader_for(url: str) -> SourceReader:
    """The reader registered (entry-point group ``flowtide.sources``) for the URL's scheme, else the fsspec one.

    flowtide registers its own ``http``, ``https``, ``file``, ``fsspec`` and
    ``predictions`` readers there exactly as a package adds a new scheme.
    """
    scheme = scheme_of(url)
    name = scheme if plugins.has(plugins.SOURCES, scheme) else FALLBACK
    return plugins.load(plugins.SOURCES, name)()


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_headers(
    headers: Mapping[str, str], env: Mapping[str, str], *, source: str = "", url: str = ""
) -> dict[str, str]:
    """Expand ``${VAR}`` in header values from ``env`` (so tokens stay out of flowtide.yaml).

    A variable that is unset or empty is a SourceError naming it, raised before any
    request: a CI secret that was never configured expands to "", and an empty
    credential would only fail later, after every retry, without saying why.
    """

    def one(key: str, value: str) -> str:
        def variable(match: re.Match) -> str:
            name = match.group(1)
            if not env.get(name):
                raise SourceError(
                    source,
                    url,
                    f"header {key} uses ${{{name}}}, which is not set (or empty) in the environment",
                    hint=f"Set {name} (in CI: pass the secret to the step's env) or remove the header from "
                    "flowtide.yaml; nothing was downloaded, the previous data file and lock are unchanged.",
                )
            return env[name]

        return _VARIABLE.sub(variable, value)

    return {key: one(key, value) for key, value in headers.items()}


def with_retries(request: ReadRequest, attempt_once: Callable[[], ReadResult]) -> ReadResult:
    """Call ``attempt_once`` until it succeeds, retrying RetryableError with exponential backoff."""
    delay = request.backoff
    for attempt in range(request.retries + 1):
        try:
            result = attempt_once()
            result.attempts = attempt + 1
            return result
        except RetryableError as exc:
            if attempt >= request.retries:
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise SourceError(request.name, request.url, f"{exc}{tries}") from None
            # a server that says when to come back (429 / 503 Retry-After) is believed, within reason
            wait = delay if exc.retry_after is None else min(max(exc.retry_after, 0.0), MAX_BACKOFF * 4)
            time.sleep(wait)
            delay = min(delay * 2, MAX_BACKOFF)
    raise AssertionError("unreachable")


# --- http(s) -----------------------------------------------------------------


class HttpReader:
    """Streams a URL with httpx: conditional GET, timeouts, retries, hashing while writing.

    The source's own headers (tokens, API keys) go to the source's origin only: a
    redirect to another scheme, host or port gets none of them (httpx itself only
    drops ``Authorization``), so a redirect cannot hand a credential to a third party.
    """

    def read(self, request: ReadRequest) -> ReadResult:
        import httpx

        headers = dict(request.headers)
        if request.validators.get("etag"):
            headers["If-None-Match"] = request.validators["etag"]
        if request.validators.get("last_modified"):
            headers["If-Modified-Since"] = request.validators["last_modified"]
        timeout = httpx.Timeout(request.timeout)
        _widen_socket_reads()
        guard = _OriginGuard(request.url, request.headers)
        with httpx.Client(timeout=timeout, follow_redirects=True, event_hooks={"request": [guard]}) as client:
            return with_retries(request, lambda: self._once(client, request, headers, guard))

    def _once(
        self, client, request: ReadRequest, headers: dict[str, str], guard: _OriginGuard | None = None
    ) -> ReadResult:
        import httpx

        try:
            with client.stream("GET", request.url, headers=headers) as response:
                code = response.status_code
                if code == 304:
                    return ReadResult(
                        not_modified=True,
                        etag=response.headers.get("etag") or request.validators.get("etag"),
                        last_modified=response.headers.get("last-modified") or request.validators.get("last_modified"),
                    )
                if code >= 500 or code in _RETRY_STATUS:
                    raise RetryableError(
                        f"HTTP {code} {response.reason_phrase}".rstrip(),
                        retry_after=_retry_after(response.headers.get("retry-after")),
                    )
                if code >= 400:
                    hint = "Check the URL in flowtide.yaml; the previous data file and lock are unchanged."
                    if guard is not None and guard.dropped_at:
                        hint = (
                            f"The request was redirected to {guard.dropped_at}, another origin, which gets none of "
                            f"the source's headers ({', '.join(sorted(request.headers))}). {hint}"
                        )
                    raise SourceError(
                        request.name, request.url, f"HTTP {code} {response.reason_phrase}".rstrip(), hint=hint
                    )
                if code != 200:
                    raise SourceError(request.name, request.url, f"unexpected HTTP {code} {response.reason_phrase}")
                expected = _content_length(response)
                digest, size, copy = self._stream_into_store(request, response, expected)
                return ReadResult(
                    not_modified=False,
                    hash=digest,
                    size=size,
                    etag=response.headers.get("etag"),
                    last_modified=response.headers.get("last-modified"),
                    copy=copy,
                )
        except httpx.TimeoutException:
            raise RetryableError(f"timed out (no data for {request.timeout:g} s)") from None
        except httpx.ConnectError as exc:
            raise RetryableError(f"could not connect: {_reason(exc)}") from None
        except httpx.RemoteProtocolError as exc:
            reason = _reason(exc)
            if "complete message body" in reason:
                raise RetryableError(f"truncated body: {reason}") from None
            raise RetryableError(f"connection broken: {reason}") from None
        except httpx.TransportError as exc:
            raise RetryableError(f"transport error: {_reason(exc)}") from None
        except httpx.InvalidURL as exc:
            raise SourceError(request.name, request.url, f"invalid URL: {exc}") from None
        except httpx.HTTPError as exc:  # e.g. a body that fails to decode: not worth a retry
            raise SourceError(request.name, request.url, f"{type(exc).__name__}: {exc}") from None

    def _stream_into_store(
        self, request: ReadRequest, response, expected: int | None
    ) -> tuple[str, int, GrowingCopy | None]:
        advance = counter(request.on_progress, expected, f"pull {request.name}")
        encoded = response.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")
        # without a content encoding the raw chunks are the bytes: no decoder, no re-chunking copy
        chunks = response.iter_bytes(1 << 20) if encoded else response.iter_raw()
        reported = 0
        with request.store.writer(expected or 0, copy_to=request.copy_to) as blob:
            for chunk in chunks:
                blob.write(chunk)
                # progress once per MiB boundary crossed, whatever the chunk sizes (socket reads vary)
                if advance is not None and blob.size >> 20 > reported >> 20:
                    advance(blob.size - reported)
                    reported = blob.size
            if advance is not None and blob.size > reported:
                advance(blob.size - reported)
            received = response.num_bytes_downloaded
            if expected is not None and received != expected:
                # raising inside the writer discards the partial blob
                raise RetryableError(f"truncated body: got {received} of {expected} bytes")
            blob.commit()
        return blob.digest, blob.size, blob.copy


SOCKET_READ = 1 << 20


def _widen_socket_reads() -> None:
    """Let httpcore read the socket up to 1 MiB at a time instead of 64 KiB.

    Each read passes through httpcore and h11 in Python (about 0.1 ms of CPU per
    read, measured): at 64 KiB that is 16,384 trips per GiB and a third of the
    pull's CPU; at 1 MiB the per-read work is spread over 16x the bytes. A read
    still returns what the socket has, so small responses are unaffected. This is
    httpcore's class attribute (it has no public knob): if it is gone, nothing changes.
    """
    try:
        from httpcore._sync.http11 import HTTP11Connection
    except ImportError:  # pragma: no cover - another httpcore layout
        return
    if isinstance(getattr(HTTP11Connection, "READ_NUM_BYTES", None), int):
        HTTP11Connection.READ_NUM_BYTES = max(HTTP11Connection.READ_NUM_BYTES, SOCKET_READ)


class _OriginGuard:
    """An httpx request hook: removes the source's configured headers from requests to another origin."""

    def __init__(self, url: str, configured: Mapping[str, str]) -> None:
        import httpx

        self.origin = httpx.URL(url)
        self.names = list(configured)
        self.dropped_at: str | None = None

    def __call__(self, request) -> None:
        if not self.names or _same_origin(self.origin, request.url):
            return
        for name in self.names:
            request.headers.pop(name, None)
        self.dropped_at = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"


def _same_origin(origin, url) -> bool:
    """Scheme, host and port equal, or an http -> https upgrade of the same host (as httpx judges Authorization)."""
    ports = {"http": 80, "https": 443}
    port, other = origin.port or ports.get(origin.scheme), url.port or ports.get(url.scheme)
    if (origin.scheme, origin.host, port) == (url.scheme, url.host, other):
        return True
    return origin.host == url.host and (origin.scheme, port, url.scheme, other) == ("http", 80, "https", 443)


def _content_length(response) -> int | None:
    value = response.headers.get("content-length")
    if value is None or response.headers.get("content-encoding"):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text or "[Errno 111]" in text:
        return "connection refused"
    return text


# --- local paths ---------------------------------------------------------------


class LocalReader:
    """A file on this machine (relative to the project, absolute, or ``file://``).

    Its validator is the file's stat (inode, size, mtime), so an unchanged file is
    not even read; a changed one is hashed with all cores and copied into the store.
    """

    def read(self, request: ReadRequest) -> ReadResult:
        path = local_path(request.url, request.base_dir)
        try:
            before = os.stat(path)
        except FileNotFoundError:
            raise SourceError(request.name, request.url, f"file not found: {path}") from None
        except OSError as exc:
            raise SourceError(request.name, request.url, f"cannot read {path}: {exc.strerror}") from None
        if not os.path.isfile(path):
            raise SourceError(request.name, request.url, f"{path} is not a regular file")
        token = _stat_token(before)
        if request.validators.get("etag") == token:
            return ReadResult(not_modified=True, etag=token)

        from ..store import SourceChanged  # (loaded already: request.store is one)

        def once() -> ReadResult:
            start = os.stat(path)
            try:
                # new bytes are copied into the working tree beside the store's copy (request.copy_to)
                digest, size, copy = request.store.add_file_copying(path, copy_to=request.copy_to)
            except SourceChanged as exc:  # (the store kept nothing of it)
                raise RetryableError(str(exc.message)) from None
            except OSError as exc:
                raise SourceError(request.name, request.url, f"cannot read {path}: {exc.strerror}") from None
            end = os.stat(path)
            if _stat_token(end) != _stat_token(start):
                # changed just before or after the store read it (the blob holds the bytes it hashed, and
                # may be another source's: it stays), so the stat is not the one the hash belongs to
                if copy is not None:
                    copy.discard()
                raise RetryableError(f"{path} changed while it was read")
            return ReadResult(not_modified=False, hash=digest, size=size, etag=_stat_token(end), copy=copy)

        return with_retries(request, once)


def local_path(url: str, base_dir: Path) -> Path:
    if url.startswith("file://"):
        url = url[len("file://") :]
    path = Path(os.path.expanduser(url))
    return path if path.is_absolute() else base_dir / path


def _stat_token(st: os.stat_result) -> str:
    return f"stat:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


# --- any other fsspec URL ----------------------------------------------------------


class FsspecReader:
    """s3://, gs://, memory://, ... through fsspec; ``ukey`` (ETag, mtime) is the validator."""

    def read(self, request: ReadRequest) -> ReadResult:
        try:
            import fsspec
            from fsspec.core import url_to_fs
        except ImportError as exc:  # pragma: no cover - fsspec is a dependency
            raise SourceError(request.name, request.url, f"fsspec is not installed: {exc}") from None
        del fsspec
        if request.url.startswith(("s3://", "s3a://")):
            from ..extras import require

            require("s3", f"source {request.name!r} ({request.url})", ["s3fs"])
        try:
            fs, fs_path = url_to_fs(request.url)
        except (ImportError, ValueError) as exc:
            raise SourceError(
                request.name,
                request.url,
                f"no filesystem for this URL: {exc}",
                hint="Install the fsspec backend for this scheme (for s3://: pip install 'flowtide[s3]').",
            ) from None

        def once() -> ReadResult:
            try:
                token = str(fs.ukey(fs_path))
                if request.validators.get("etag") == token:
                    return ReadResult(not_modified=True, etag=token)
                with fs.open(fs_path, "rb") as handle, request.store.writer() as blob:
                    while chunk := handle.read(1 << 20):
                        blob.write(chunk)
                    blob.commit()
                return ReadResult(not_modified=False, hash=blob.digest, size=blob.size, etag=token)
            except FileNotFoundError:
                raise SourceError(request.name, request.url, "not found") from None
            except PermissionError as exc:
                raise SourceError(request.name, request.url, f"permission denied: {exc}") from None
            except (OSError, TimeoutError, ConnectionError) as exc:
                raise RetryableError(f"{type(exc).__name__}: {exc}") from None

        return with_retries(request, once)
