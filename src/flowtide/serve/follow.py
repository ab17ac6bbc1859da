"""Following the registry: which versions to serve, loading them, noticing promotions.

:class:`RegistryWatch` reads the project's ``flowtide.registry`` (or, with
``--follow GIT_URL@BRANCH``, the registry of a clone under ``.flowtide/follow/``
that is ``git fetch``-ed on every poll) and loads the production and staging
versions through ``flowtide.formats``. The app polls :meth:`stamp` and reloads
when it changes: deploying is promoting.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ServeError, UsageError

if TYPE_CHECKING:
    from ..project import Project

log = logging.getLogger("flowtide.serve")


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
            self.refresh()
        clone = Project.load(self.clone_dir, env=self.base.env)
        # artifacts are found in the serving machine's store (filled by `flowtide fetch` or the remote)
        clone.__dict__["store"] = self.base.store
        return clone

    def refresh(self) -> None:
        """Fetch the followed branch and move the clone to it (no-op without --follow)."""
        if not self.follow:
            return
        _url, branch = self.follow
        _git("fetch", "-q", "origin", branch, cwd=self.clone_dir)
        _git("reset", "-q", "--hard", "FETCH_HEAD", cwd=self.clone_dir)

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

    def load(self, version: Any) -> Any:
        """The LoadedModel of a version (cached by artifact hash: a re-promotion costs nothing)."""
        cached = self._loaded.get(version.hash)
        if cached is not None:
            return cached
        from ..formats import load_model

        if version.format == "python":  # user code may need pandas, which the server keeps out otherwise
            from .server import allow_pandas

            allow_pandas()
        loaded = load_model(self.project, version)
        self._loaded[version.hash] = loaded
        return loaded

    def forget_except(self, hashes: set[str]) -> None:
        for digest in list(self._loaded):
            if digest not in hashes:
                del self._loaded[digest]

    def input_schema(self) -> dict[str, dict]:
        from ..formats import input_schema

        return input_schema(self.project)

    @property
    def config(self):
        return self.project.config
