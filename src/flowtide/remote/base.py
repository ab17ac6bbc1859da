"""One remote store: an fsspec filesystem and the base path under which flowtide keeps things there.

:meth:`Remote.open` / :meth:`Remote.from_project` are the only way flowtide reaches
a remote (credentials from the environment, ``store.endpoint_url``, plain paths
relative to the project). Blobs live at ``<base>/<hash[:2]>/<hash[2:]>``; other
files (prediction log segments) at ``<base>/<relative path>`` through
:meth:`Remote.put`, :meth:`Remote.files` and :meth:`Remote.get`.

Atomicity: object stores (S3 and friends, GCS, Azure) publish an object only
when a single PUT or a multipart upload completes, so objects go straight to
their final key there; an interrupted multipart upload leaves only invisible
parts (expire them with an AbortIncompleteMultipartUpload lifecycle rule).
Every other filesystem (local paths, file://, sftp...) gets the bytes under a
temporary name first and a rename to the final key.

Transport (``store.transport``): blobs of an s3:// remote go through obstore
(:mod:`.objects`) when it is installed (``auto``, the default) or when asked
(``obstore``); ``fsspec`` keeps them on s3fs. Every other protocol is fsspec's.
The fsspec filesystem is built on first use, so a push or fetch through
obstore never imports s3fs and botocore.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import Writeback, private_dir, temp_file
from ..errors import FlowtideError, IntegrityError, StoreError
from ..hashing import new_hasher
from ..validators import is_digest
from .credentials import credential_hint, s3_options

if TYPE_CHECKING:
    from ..project import Project
    from ..store import Store

__all__ = ["Remote"]

# protocols whose PUT / multipart-complete is atomic: no temporary key needed
_ATOMIC_PUT = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oci"}
_READ_CHUNK = 16 << 20  # one ranged GET per 16 MiB while streaming a download
_STREAM_CHUNK = 8 << 20  # read size of a streaming GET
_HEAD_LIMIT = 32  # at most this many wanted blobs: ask the remote about each one


TRANSPORTS = ("auto", "obstore", "fsspec")


class Remote:
    """One remote store: an fsspec filesystem and the base path of the blobs in it.

    ``fs`` is a filesystem or a function that builds one (called on first use);
    ``objects``, when given, moves the blobs instead of ``fs`` (:class:`~.objects.S3Objects`).
    """

    def __init__(
        self,
        url: str,
        fs: Any,
        base: str,
        *,
        env_hint: str = "",
        objects: Any = None,
        protocols: tuple[str, ...] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._fs = None if callable(fs) else fs
        self._make_fs = fs if callable(fs) else None
        self.base = base.rstrip("/")
        if protocols is None:
            protocols = tuple(fs.protocol) if isinstance(fs.protocol, tuple | list) else (fs.protocol,)
        self.atomic_put = bool(_ATOMIC_PUT.intersection(protocols))
        self.is_s3 = bool({"s3", "s3a"}.intersection(protocols))
        self.objects = objects
        self.transport = "obstore" if objects is not None else "fsspec"
        self._env_hint = env_hint

    @property
    def fs(self) -> Any:
        if self._fs is None:
            self._fs = self._make_fs()
        return self._fs

    # -- construction -----------------------------------------------------------

    @classmethod
    def from_project(cls, project: Project) -> Remote:
        """The remote configured under ``store:`` (UsageError pointing at flowtide.yaml if none)."""
        cfg = project.config.store
        if not cfg.remote:
            raise project.config.error(
                "no remote store is configured",
                "store",
                hint="Add `store: {remote: s3://bucket/prefix}` (or a shared directory) to flowtide.yaml.",
            )
        return cls.open(
            cfg.remote, endpoint_url=cfg.endpoint_url, env=project.env, root=project.root, transport=cfg.transport
        )

    @classmethod
    def open(
        cls,
        url: str,
        *,
        endpoint_url: str | None = None,
        env: dict[str, str] | Any = None,
        root: Path | None = None,
        transport: str = "auto",
    ) -> Remote:
        """Open ``url``. Credentials come only from the AWS environment variables / profiles in ``env``.

        ``transport``: ``auto`` moves s3:// blobs with obstore when it is installed and
        the credentials are not a named AWS profile (obstore reads none), ``obstore``
        insists on it, ``fsspec`` keeps s3fs. Other protocols always use fsspec.
        """
        env = os.environ if env is None else env
        if "://" not in url:  # a plain path: relative to the project, e.g. a shared disk
            path = Path(url).expanduser()
            if not path.is_absolute() and root is not None:
                path = root / path
            url = str(path.resolve())
        from fsspec.core import url_to_fs

        options: dict[str, Any] = {}
        protocol = url.split("://", 1)[0] if "://" in url else "file"
        if transport not in TRANSPORTS:
            raise StoreError(
                f"remote {url}: unknown transport {transport!r}",
                hint="store.transport takes auto, obstore or fsspec.",
            )
        if protocol in ("s3", "s3a"):
            from ..extras import require

            if transport == "obstore":
                require("s3", f"remote store {url} (store.transport: obstore)", ["obstore"])
            if transport == "obstore" or (transport == "auto" and _objects_usable(env)):
                return cls._open_objects(url, endpoint_url, env, protocol)
            require("s3", f"remote store {url}", ["s3fs"])
            options = s3_options(endpoint_url, env)
        elif protocol == "file" or "://" not in url:
            options = {"auto_mkdir": True}
        try:
            fs, base = url_to_fs(url, **options)
        except ImportError as exc:
            raise StoreError(
                f"remote {url}: the filesystem for {protocol}:// is not installed ({exc})",
                hint="Install flowtide with the matching extra (for s3://: pip install 'flowtide[s3]').",
            ) from None
        except ValueError as exc:
            raise StoreError(
                f"remote {url}: {exc}",
                hint="store.remote takes an fsspec URL (s3://bucket/prefix, gs://..., file:///path) or a path.",
            ) from None
        remote = cls(url, fs, base, env_hint=credential_hint(protocol))
        if not remote.atomic_put:
            try:
                fs.makedirs(base, exist_ok=True)
            except OSError as exc:
                raise remote._fail("creating the directory", exc) from exc
        return remote

    @classmethod
    def _open_objects(cls, url: str, endpoint_url: str | None, env: Any, protocol: str) -> Remote:
        from .objects import S3Objects

        path = url.split("://", 1)[1].strip("/")
        bucket, _, prefix = path.partition("/")
        if not bucket:
            raise StoreError(f"remote {url}: no bucket", hint="store.remote takes s3://bucket/prefix.")
        hint = credential_hint(protocol)
        try:
            objects = S3Objects(bucket, prefix.strip("/"), endpoint_url, env)
        except Exception as exc:  # a malformed endpoint or region: configuration, not the network
            from .objects import reason

            raise StoreError(f"remote store {url}: {reason(exc)}", hint=hint) from None

        def make_fs() -> Any:  # prediction segments and multipart clean-up stay on s3fs
            from fsspec.core import url_to_fs

            from ..extras import require

            require("s3", f"remote store {url}", ["s3fs"])
            return url_to_fs(url, **s3_options(endpoint_url, env))[0]

        return cls(url, make_fs, path, env_hint=hint, objects=objects, protocols=(protocol,))

    # -- names --------------------------------------------------------------------

    def rel(self, digest: str) -> str:
        """The blob's key relative to the base (what :attr:`objects` is given)."""
        return f"{digest[:2]}/{digest[2:]}"

    def key(self, digest: str) -> str:
        return f"{self.base}/{digest[:2]}/{digest[2:]}"

    def url_of(self, digest: str) -> str:
        return f"{self.url}/{digest[:2]}/{digest[2:]}"

    def _fail(
        self, what: str, exc: BaseException, digest: str | None = None, *, where: str | None = None
    ) -> StoreError:
        where = where or (self.url_of(digest) if digest else self.url)
        if type(exc).__module__.startswith("obstore") or "\n\nDebug source" in str(exc):
            from .objects import reason as obstore_reason

            reason = obstore_reason(exc)
        else:
            reason = f"{type(exc).__name__}: {exc}".strip()
        return StoreError(f"remote store {where}: {what} failed: {reason}", hint=self._env_hint or None)

    # -- listing ------------------------------------------------------------------

    def list(self) -> dict[str, int]:
        """Every blob on the remote, digest -> size (one paged listing of the prefix)."""
        if self.objects is not None:
            try:
                listing = self.objects.list()
            except FileNotFoundError:
                return {}
            except Exception as exc:
                raise self._fail("listing", exc) from exc
            return _blobs(listing)
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(self.base, detail=True)
        except FileNotFoundError:
            return {}
        except Exception as exc:
            raise self._fail("listing", exc) from exc
        prefix = self.base + "/"
        return _blobs(
            {(p[len(prefix) :] if p.startswith(prefix) else p): int(i.get("size") or 0) for p, i in found.items()}
        )

    def _shard_count(self, digest: str) -> int:
        try:
            if self.objects is not None:
                return len(self.objects.list(digest[:2]))
            return len(self.fs.ls(f"{self.base}/{digest[:2]}", detail=False, refresh=True))
        except FileNotFoundError:
            return 0
        except Exception as exc:
            raise self._fail("listing", exc) from exc

    def has(self, digest: str) -> bool:
        try:
            if self.objects is not None:
                return self.objects.has(self.rel(digest))
            if self.is_s3:  # one HEAD; s3fs's info() adds a listing for every missing key
                bucket, key, _ = self.fs.split_path(self.key(digest))
                self.fs.call_s3("head_object", Bucket=bucket, Key=key)
                return True
            return self.fs.info(self.key(digest)).get("type") == "file"
        except FileNotFoundError:
            return False
        except Exception as exc:
            raise self._fail("checking", exc, digest) from exc

    def missing(self, digests: Iterable[str], *, jobs: int = 8) -> set[str]:
        """The digests the remote lacks.

        Few digests, or a remote far larger than the batch: one HEAD per blob in
        parallel. Otherwise one listing of the whole prefix (1,000 keys a page) is
        cheaper; the remote's size is estimated from one shard's listing.
        """
        wanted = set(digests)
        if not wanted:
            return set()
        if len(wanted) > _HEAD_LIMIT:
            estimated_total = self._shard_count(next(iter(wanted))) * 256
            if math.ceil(estimated_total / 1000) <= len(wanted) / max(jobs, 1):
                return wanted - set(self.list())
        if self.objects is None:
            self.fs.invalidate_cache()
        with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
            there = dict(zip(wanted, pool.map(self.has, wanted), strict=True))
        return {digest for digest, present in there.items() if not present}

    # -- one blob -----------------------------------------------------------------

    def upload(self, store: Store, digest: str, advance: Callable[[int], None] | None = None) -> int:
        """Copy one local blob to the remote; a reader never sees a partial object."""
        source = store.path_of(digest)
        if not source.is_file():
            raise StoreError(
                f"blob {digest[:12]} is not in the local store {store.root}, so it cannot be pushed",
                hint="Re-run the step that produced it (`flowtide pull` / `flowtide run`), or `flowtide fetch` it from another remote.",
            )
        size = source.stat().st_size
        if self.objects is not None:
            try:
                self.objects.put_file(source, self.rel(digest), advance)
            except Exception as exc:
                raise self._fail(f"upload of blob {digest[:12]}", exc, digest) from exc
            return size
        callback = _callback(advance)
        try:
            if self.atomic_put:
                self.fs.put_file(os.fspath(source), self.key(digest), callback=callback)
            else:
                tmp = f"{self.base}/tmp/{uuid.uuid4().hex}"
                self.fs.makedirs(f"{self.base}/tmp", exist_ok=True)
                try:
                    self.fs.put_file(os.fspath(source), tmp, callback=callback)
                    self.fs.makedirs(f"{self.base}/{digest[:2]}", exist_ok=True)
                    self.fs.mv(tmp, self.key(digest))
                except BaseException:
                    with contextlib.suppress(Exception):
                        self.fs.rm_file(tmp)
                    raise
        except FlowtideError:
            raise
        except Exception as exc:
            raise self._fail(f"upload of blob {digest[:12]}", exc, digest) from exc
        if advance is not None:
            advance(size - callback.sent)
        return size

    def download(self, store: Store, digest: str, advance: Callable[[int], None] | None = None) -> int:
        """Stream one blob into the local store, re-hashing it; refuse bytes that do not match."""
        tmp, size, _ = self.download_staged(store, digest, advance, fsync=True)
        try:
            target = store.path_of(digest)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)  # same directory tree as the store: an atomic rename
            return size
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def download_staged(
        self, store: Store, digest: str, advance: Callable[[int], None] | None = None, *, fsync: bool = False
    ) -> tuple[str, int, os.stat_result]:
        """Stream one blob into a read-only temp file of the store, verified by hash: (temp path, size, its stat).

        Not yet named, nor (unless ``fsync``) durable: :meth:`Store.commit_staged` does both for a batch.
        """
        fd, tmp = temp_file(private_dir(store.tmp_dir), "fetch", ".part")
        try:
            hasher = new_hasher()
            with os.fdopen(fd, "wb") as out:
                try:
                    size = _drain(self._read(digest), out, hasher, advance, writeback=fsync)
                except FileNotFoundError:
                    raise StoreError(
                        f"blob {digest[:12]} is not on the remote {self.url_of(digest)}",
                        hint="Run `flowtide push` from a clone that has it (the lock references it but nobody pushed it).",
                    ) from None
                except FlowtideError:
                    raise
                except Exception as exc:
                    raise self._fail(f"download of blob {digest[:12]}", exc, digest) from exc
                out.flush()
                if fsync:
                    os.fsync(out.fileno())
                os.fchmod(out.fileno(), 0o444)
                st = os.fstat(out.fileno())
            actual = hasher.hexdigest()
            if actual != digest:
                raise IntegrityError(
                    f"blob {digest[:12]} downloaded from {self.url_of(digest)} is corrupted: "
                    f"its {size} bytes hash to {actual[:12]}; refused, the local store is unchanged",
                    hint="Re-push it from a clone whose local copy is intact (`flowtide push`), or delete the remote object.",
                )
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        return os.fspath(tmp), size, st

    def _read(self, digest: str) -> Iterator[bytes]:
        if self.objects is not None:
            yield from self.objects.get(self.rel(digest))
            return
        if self.is_s3:
            yield from self._read_s3(digest)
            return
        with self.fs.open(self.key(digest), "rb", block_size=_READ_CHUNK, cache_type="none") as handle:
            while chunk := handle.read(_READ_CHUNK):
                yield chunk

    def _read_s3(self, digest: str) -> Iterator[bytes]:
        """One streaming GET (s3fs's file object would add a HEAD and one ranged GET per block)."""
        from fsspec.asyn import sync

        bucket, key, _ = self.fs.split_path(self.key(digest))
        response = sync(self.fs.loop, self.fs._call_s3, "get_object", Bucket=bucket, Key=key)
        body = response["Body"]
        try:
            while chunk := sync(self.fs.loop, body.read, _STREAM_CHUNK):
                yield chunk
        finally:
            body.close()

    def delete(self, digests: Iterable[str]) -> None:
        paths = [self.key(d) for d in digests]
        if paths:
            try:
                if self.objects is not None:
                    self.objects.delete([self.rel(d) for d in digests])
                    return
                self.fs.rm(paths)
            except Exception as exc:
                raise self._fail("delete", exc) from exc

    def abort_stale_uploads(self, older_than: float = 86400.0) -> int:
        """Abort multipart uploads under the prefix started over ``older_than`` seconds ago (killed pushes)."""
        if not self.is_s3:
            return 0
        bucket, prefix, _ = self.fs.split_path(self.base)
        try:
            listing = self.fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=f"{prefix}/" if prefix else "")
            now = time.time()
            aborted = 0
            for upload in listing.get("Uploads", []):
                if now - upload["Initiated"].timestamp() > older_than:
                    self.fs.call_s3(
                        "abort_multipart_upload", Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
        except Exception as exc:
            raise self._fail("aborting stale multipart uploads", exc) from exc
        return aborted

    def stale_tmp(self, older_than: float = 86400.0) -> list[str]:
        """Temporary upload keys left by killed pushes (non-object-store remotes)."""
        try:
            entries = self.fs.ls(f"{self.base}/tmp", detail=True)
        except FileNotFoundError:
            return []
        now = time.time()
        stale = []
        for info in entries:
            mtime = info.get("mtime") or info.get("LastModified") or info.get("created")
            stamp = mtime.timestamp() if hasattr(mtime, "timestamp") else float(mtime or 0)
            if now - stamp > older_than:
                stale.append(info["name"])
        return stale

    # -- other files (prediction log segments) ----------------------------------------

    def path(self, relative: str) -> str:
        return f"{self.base}/{relative.strip('/')}"

    def put(self, local: str | os.PathLike[str], relative: str) -> None:
        """Copy a local file to ``<base>/<relative>``; a reader sees it whole or not at all."""
        target = self.path(relative)
        directory, _, name = target.rpartition("/")
        try:
            if self.atomic_put:
                self.fs.put_file(os.fspath(local), target)
                return
            self.fs.makedirs(directory, exist_ok=True)
            tmp = f"{directory}/.{name}.{uuid.uuid4().hex}.part"
            try:
                self.fs.put_file(os.fspath(local), tmp)
                self.fs.mv(tmp, target)
            except BaseException:
                with contextlib.suppress(Exception):
                    self.fs.rm_file(tmp)
                raise
        except Exception as exc:
            raise self._fail(f"upload of {relative}", exc, where=f"{self.url}/{relative}") from exc

    def files(self, prefix: str, *, what: str = "listing", hint: str | None = None) -> dict[str, int | None]:
        """Every file under ``<base>/<prefix>``: its path relative to the prefix -> size (None: unknown).

        Empty when the prefix does not exist. The listing is input: callers decide which names to trust.
        """
        base = self.path(prefix)
        try:
            self.fs.invalidate_cache()
            listing = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return {}
        except Exception as exc:
            failure = self._fail(what, exc, where=f"{self.url}/{prefix}")
            if hint is not None:
                failure.hint = hint
            raise failure from exc
        out: dict[str, int | None] = {}
        for path, info in listing.items():
            relative = path[len(base) + 1 :] if path.startswith(base + "/") else path
            size = info.get("size")
            out[relative] = None if size is None else int(size)
        return out

    def get(self, relative: str, local: Path, *, hint: str | None = None) -> None:
        """Copy ``<base>/<relative>`` to ``local`` through a temporary file and a rename."""
        local.parent.mkdir(parents=True, exist_ok=True)
        partial = local.with_name(f".{local.name}.{os.getpid()}.part")
        try:
            self.fs.get_file(self.path(relative), str(partial))
            os.replace(partial, local)
        except Exception as exc:
            failure = self._fail("download", exc, where=f"{self.url}/{relative}")
            if hint is not None:
                failure.hint = hint
            raise failure from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()

    def remove_stale_tmp(self, older_than: float = 86400.0) -> list[str]:
        """Delete the temporary upload keys killed pushes left (see :meth:`stale_tmp`); return them."""
        stale = self.stale_tmp(older_than)
        if stale:
            try:
                self.fs.rm(stale)
            except Exception as exc:
                raise self._fail("delete", exc) from exc
        return stale


# --- helpers ---------------------------------------------------------------------


def _objects_usable(env: Any) -> bool:
    from .objects import usable

    return usable(env)


def _blobs(listing: dict[str, int]) -> dict[str, int]:
    """The blobs of a listing (key relative to the base -> size); a listing is input: only real blob names count."""
    blobs: dict[str, int] = {}
    for rel, size in listing.items():
        shard, _, rest = rel.partition("/")
        if len(shard) == 2 and is_digest(shard + rest):
            blobs[shard + rest] = size
    return blobs


def _callback(advance: Callable[[int], None] | None):
    from fsspec.callbacks import Callback

    class Forward(Callback):
        sent = 0

        def call(self, *args: Any, **kwargs: Any) -> None:
            pass

        def relative_update(self, inc: int = 1) -> None:
            self.sent += inc
            if advance is not None:
                advance(inc)

        def absolute_update(self, value: int) -> None:
            self.relative_update(value - self.sent)

    return Forward()


def _drain(
    chunks: Iterable[bytes], out: Any, hasher: Any, advance: Callable[[int], None] | None, *, writeback: bool = False
) -> int:
    """Hash ``chunks`` and write them to ``out`` on a helper thread, so network reads and disk writes overlap.

    A blob that arrives in one chunk (most small files) is written directly: no thread to start.
    ``writeback``: ``out`` will be fsynced; start the disk write as the bytes arrive (:class:`Writeback`).
    """
    import itertools
    import queue
    import threading

    chunks = iter(chunks)
    first = next(chunks, b"")
    second = next(chunks, None)
    if second is None:
        hasher.update(first)
        out.write(first)
        if advance is not None and first:
            advance(len(first))
        return len(first)
    chunks = itertools.chain((first, second), chunks)

    pending: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
    failed: list[BaseException] = []

    started = Writeback(out.fileno()) if writeback else None

    def write() -> None:
        written = 0
        while (chunk := pending.get()) is not None:
            if failed:
                continue  # keep draining so the reader never blocks on a full queue
            try:
                out.write(chunk)
                written += len(chunk)
                if started is not None and written - started.started >= started.step:
                    out.flush()
                    started.wrote(written)
            except BaseException as exc:
                failed.append(exc)

    writer = threading.Thread(target=write, name="flowtide-fetch-writer", daemon=True)
    writer.start()
    size = 0
    try:
        for chunk in chunks:
            if failed:
                break
            hasher.update(chunk)
            size += len(chunk)
            pending.put(chunk)
            if advance is not None:
                advance(len(chunk))
    finally:
        pending.put(None)
        writer.join()
        if started is not None:
            started.close()
    if failed:
        raise failed[0]
    return size
