"""A real third-party plugin package (one component of each kind), built and installed once per session.

``flowtide-demo-plugin`` declares in its own pyproject.toml a source reader
(``demo://NAME``), a check (``even``), a model format (``threshold``) and an
executor (``inline``), and is installed with ``uv pip install --target`` from
its source directory, as a user would install it. Nothing is mocked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

NAMES = {"sources": "demo", "checks": "even", "formats": "threshold", "executors": "inline"}

PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "flowtide-demo-plugin"
version = "1.0"

[project.entry-points."flowtide.sources"]
demo = "flowtide_demo_plugin:DemoReader"

[project.entry-points."flowtide.checks"]
even = "flowtide_demo_plugin:Even"

[project.entry-points."flowtide.formats"]
threshold = "flowtide_demo_plugin:ThresholdFormat"

[project.entry-points."flowtide.executors"]
inline = "flowtide_demo_plugin:InlineExecutor"
"""

MODULE = '''
"""One flowtide component of each kind, written against the public contracts only."""

import hashlib
import json

from flowtide.checks.contract import Check, Expressions
from flowtide.data.sources import ReadResult
from flowtide.errors import ServeError, SourceError
from flowtide.pipeline.executors import TaskFuture, run_task


class DemoReader:
    """demo://NAME reads the file .demo/NAME of the project; its sha256 is the validator."""

    def read(self, request):
        path = request.base_dir / ".demo" / request.url.removeprefix("demo://")
        if not path.is_file():
            raise SourceError(request.name, request.url, f"no demo file {path}")
        data = path.read_bytes()
        etag = hashlib.sha256(data).hexdigest()
        if request.validators.get("etag") == etag:
            return ReadResult(not_modified=True, etag=etag)
        with request.store.writer(len(data)) as blob:
            blob.write(data)
            blob.commit()
        return ReadResult(not_modified=False, hash=blob.digest, size=blob.size, etag=etag)


class Even(Check):
    """even: true -- every value is an even number."""

    name = "even"
    label = "even (odd values)"

    def __init__(self, option=True):
        if option is not True:
            raise ValueError(f"even takes `true`, got {option!r}")
        super().__init__(option)

    @property
    def bound(self):
        return "even"

    def expressions(self, column):
        return Expressions(failing=column.typed % 2 != 0)


class _Threshold:
    def __init__(self, rule, features):
        self.rule, self.features = rule, features

    def predict(self, rows):
        feature = self.rule["feature"]
        return [self.rule["above"] if row[feature] > self.rule["threshold"] else self.rule["below"] for row in rows]


class ThresholdFormat:
    """A JSON rule {feature, threshold, above, below} as a model."""

    name = "threshold"
    suffix = ".json"

    def load(self, data, path, spec):
        try:
            rule = json.loads(data)
            missing = {"feature", "threshold", "above", "below"} - set(rule)
        except (ValueError, TypeError) as exc:
            raise ServeError(f"{spec.label} is not a threshold rule: {exc}") from None
        if missing:
            raise ServeError(f"{spec.label} lacks {', '.join(sorted(missing))}")
        return _Threshold(rule, spec.features)


class InlineExecutor:
    """Runs each stage at once, in the calling thread."""

    name = "inline"

    def __init__(self, jobs=1):
        self.jobs = jobs

    def submit(self, task):
        future = TaskFuture()
        try:
            result = run_task(task)
            result.where = "inline"
            future._finish(result)
        except BaseException as exc:
            future._finish(error=exc)
        return future

    def close(self):
        pass
'''


def build(where: Path) -> Path:
    """Install the package into ``where/site`` (once: a finished site is reused, also across xdist workers)."""
    import hashlib

    # keyed by the package's text: the directory outlives the session, a changed package must not be reused stale
    site = where / ("site-" + hashlib.sha256((PYPROJECT + MODULE).encode()).hexdigest()[:12])
    if site.is_dir():
        return site
    source = where / f"src-{os.getpid()}"
    shutil.rmtree(source, ignore_errors=True)
    (source / "flowtide_demo_plugin").mkdir(parents=True)
    (source / "pyproject.toml").write_text(PYPROJECT)
    (source / "flowtide_demo_plugin" / "__init__.py").write_text(textwrap.dedent(MODULE))
    staging = where / f"site-{os.getpid()}"
    uv = Path(sys.executable).parent / "uv"
    subprocess.run(
        [str(uv), "pip", "install", "--quiet", "--no-deps", "--target", str(staging), str(source)],
        check=True,
        capture_output=True,
    )
    try:
        staging.rename(site)  # atomic: another worker may have won, then its site is used
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return site
