"""Following the registry: which versions to serve, loading them, noticing promotions.

:class:`RegistryWatch` reads the project's ``flowtide.registry`` (or, with
``--follow GIT_URL@BRANCH``, the registry of a clone under ``.flowtide/follow/``
that is ``git fetch``-ed on every poll) and loads the production and staging
versions through ``flowtide.formats``. The app polls :meth:`stamp` and reloads
when it changes: deploying is promoting.

An artifact the local store lacks is downloaded from the followed project's
remote store (``store.remote``, opened through :class:`flowtide.remote.Remote`
with the serving machine's credentials) and re-hashed before it is loaded, so a
server follows what CI promoted without anyone running ``flowtide fetch``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FlowtideError, IntegrityError, ServeError, StoreError, UsageError

if TYPE_CHECKING:
    from ..formats import LoadedModel
    from ..project import Project
    from ..registry import Version

log = logging.getLogger("flowtide.serve")

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def parse_follow(spec: str) -> tuple[str, str]:
    """``GIT_URL@BRANCH`` -> (url, branch); the branch defaults to main."""
    url, sep, branch = spec.rpartition("@")
    # scp-like URLs (git@host:repo) have an @ before the path: only split on an @ after the last / or :
    if not sep or "/" in branch or ":" in branch:
        return spec, "main"
    if not url:
        raise UsageError(f"--follow {spec!r}: expected GIT_URL@BRANCH")
    return url, branch


def _git(*args: str, cwd: Path | None = None, timeout: float = 120) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServeError(f"git {' '.join(args)} failed: {exc}") from exc
    if proc.returncode != 0:
        raise ServeError(f"git {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


class RegistryWatch:
    """The versions the registry says to serve, and their loaded models."""

    def __init__(self, project: Project, *, follow: str | None = None) -> None:
        self.base = project
        self.project = project
        self.follow = parse_follow(follow) if follow else None
        self._loaded: dict[str, Any] = {}  # artifact hash -> LoadedModel
        self._remote: Any = None
        self.on_fetch: Any = None
        """Called with "ok" or "failed" after each download from the remote store (the app counts them)."""
        self.follow_problem: str | None = None
        """Why the last ``git fetch`` of the followed branch failed (None: it worked)."""
        if self.follow:
            self.project = self._clone()

    # -- git following ----------------------------------------------------------

    def _clone(self) -> Project:
        from ..project import Project

        url, branch = self.follow  # type: ignore[misc]
        slug = hashlib.blake2b(f"{url}@{branch}".encode(), digest_size=6).hexdigest()
        self.clone_dir = self.base.state_dir / "follow" / slug
        if not (self.clone_dir / ".git").exists():
            self.clone_dir.parent.mkdir(parents=True, exist_ok=True)
            _git("clone", "-q", "--depth", "50", "-b", branch, url, str(self.clone_dir))
        else:
            try:
                self.refresh()
            except ServeError as exc:  # a restart while the remote is down: serve the last registry fetched
                log.warning("%s; serving the registry fetched before", exc.message)
        clone = Project.load(self.clone_dir, env=self.base.env)
        # artifacts are found in the serving machine's store (filled by `flowtide fetch` or the remote)
        clone.__dict__["store"] = self.base.store
        return clone

    def refresh(self) -> None:
        """Fetch the followed branch and move the clone to it (no-op without --follow)."""
        if not self.follow:
            return
        url, branch = self.follow
        try:
            _git("fetch", "-q", "origin", branch, cwd=self.clone_dir)
            _git("reset", "-q", "--hard", "FETCH_HEAD", cwd=self.clone_dir)
        except ServeError as exc:
            self.follow_problem = f"cannot follow {url}@{branch}: {exc.message}"
            raise ServeError(self.follow_problem) from exc
        self.follow_problem = None

    # -- what to serve -------------------------------------------------------------

    @property
    def registry_path(self) -> Path:
        from ..registry import REGISTRY_FILE

        return self.project.root / REGISTRY_FILE

    def stamp(self) -> tuple | None:
        """Changes whenever the registry file is rewritten (atomic rename → new inode)."""
        try:
            st = os.stat(self.registry_path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def wanted(self) -> dict[str, dict[str, Any]]:
        """model -> {"production": Version | None, "staging": Version | None}."""
        from ..registry import Registry

        registry = Registry.read(self.registry_path)
        out: dict[str, dict[str, Any]] = {}
        for model in registry.models():
            out[model] = {
                "production": registry.in_stage(model, "production"),
                "staging": registry.in_stage(model, "staging"),
            }
        return out

    def all_versions(self) -> dict[str, list[dict[str, Any]]]:
        from ..registry import Registry

        registry = Registry.read(self.registry_path)
        return {m: [{"version": v.version, "stage": v.stage} for v in registry.versions(m)] for m in registry.models()}

    def load(self, version: Version) -> LoadedModel:
        """The LoadedModel of a version (cached by artifact hash: a re-promotion costs nothing).

        Blocking (it may download): call it off the event loop.
        """
        cached = self._loaded.get(version.hash)
        if cached is not None:
            return cached
        from ..formats import load_model

        fetch_error = self.ensure(version)
        if version.format == "python":  # user code may need pandas, which the server keeps out otherwise
            from .lean import allow_pandas

            allow_pandas()
        try:
            try:
                loaded = load_model(self.project, version)
            except IntegrityError:
                # the local blob is corrupt: replace it from the remote store (re-hashed), else refuse as before
                if not self._refetch(version):
                    raise
                loaded = load_model(self.project, version)
        except StoreError as exc:
            if fetch_error is None or isinstance(exc, IntegrityError):
                raise
            raise ServeError(
                f"{version.model} v{version.version}: artifact {version.hash[:12]} is not in the local store "
                f"{self.project.store.root} and {fetch_error}",
                hint="Push it from a clone that has it (`flowtide push`), or check the remote store and its credentials.",
            ) from exc
        self._loaded[version.hash] = loaded
        return loaded

    def ensure(self, version: Version) -> str | None:
        """Download a version's artifact into the local store if it lacks it; None, or why it could not.

        The download is re-hashed while it streams and refused on a mismatch, so only
        the bytes the registry recorded ever reach the store.
        """
        digest = version.hash
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            raise ServeError(
                f"{version.model} v{version.version}: the registry records {str(digest)[:80]!r} as its hash, "
                "not 64 hex digits; refusing to look it up"
            )
        store = self.project.store
        if store.has(digest):
            return None
        if not self.project.config.store.remote:
            return "the project has no remote store to fetch it from (`store.remote` in flowtide.yaml)"
        try:
            remote = self.remote()
            started = time.perf_counter()
            size = remote.download(store, digest)
        except FlowtideError as exc:
            self._count("failed")
            return f"could not be fetched from the remote store: {exc.message}"
        except Exception as exc:  # a filesystem library's own error: say what it was
            self._count("failed")
            return f"could not be fetched from the remote store: {type(exc).__name__}: {exc}"
        self._count("ok")
        log.info(
            "fetched %s v%s (%s, %d bytes) from %s in %.2f s",
            version.model,
            version.version,
            digest[:12],
            size,
            remote.url,
            time.perf_counter() - started,
        )
        return None

    def _refetch(self, version: Version) -> bool:
        """Download a version's artifact again over a corrupt local copy; True when a good copy arrived."""
        if not self.project.config.store.remote:
            return False
        try:
            self.remote().download(self.project.store, version.hash)
        except Exception as exc:
            self._count("failed")
            log.warning("could not replace the corrupt local copy of %s v%s: %s", version.model, version.version, exc)
            return False
        self._count("ok")
        log.warning("replaced a corrupt local copy of %s v%s from the remote store", version.model, version.version)
        return True

    def _count(self, outcome: str) -> None:
        if self.on_fetch is not None:
            self.on_fetch(outcome)

    def remote(self) -> Any:
        """The followed project's remote store (opened once, with the serving machine's environment)."""
        from ..remote import Remote

        cfg = self.project.config.store
        key = (cfg.remote, cfg.endpoint_url)
        if self._remote is None or self._remote[0] != key:
            self._remote = (key, Remote.from_project(self.project))
        return self._remote[1]

    def target_rule(self) -> dict[str, Any] | None:
        """``{type, min, max, in, task}`` of ``model.target`` from the checks of ``model.reference`` and
        ``model.task`` (what a label must be)."""
        model = self.project.config.model
        if model is None:
            return None
        suite = self.project.config.checks.get(model.reference) if model.reference and model.target else None
        rule = suite.columns.get(model.target) if suite else None
        if rule is None:
            return {"task": model.task} if model.task else None
        return {
            "type": rule.type,
            "min": rule.min,
            "max": rule.max,
            "in": list(rule.in_) if rule.in_ else None,
            "task": model.task,
        }

    def forget_except(self, hashes: set[str]) -> None:
        for digest in list(self._loaded):
            if digest not in hashes:
                del self._loaded[digest]

    def input_schema(self, features: list[str] | None = None, *, by_name: bool = False) -> dict[str, dict]:
        """The input schema; ``features``: the inputs the loaded model declares itself (see formats.input_schema)."""
        from ..formats import input_schema

        return input_schema(self.project, features, by_name=by_name)

    @property
    def config(self):
        return self.project.config
