"""How CI installs flowtide and the tools a generated project calls: exact pins, validated.

`ci.install` in flowtide.yaml is one requirement: the package index (the default,
``flowtide[EXTRAS]==`` the version that generated the workflows), ``git+https://…@TAG``
(a tag or a 40-hex commit) or a flowtide wheel committed in the repository. A
requirement that could install a different flowtide tomorrow — a bare name, a
range, a branch — is refused: whoever publishes a matching version under the
name would run in every CI job, with its secrets.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from flowtide import __version__

if TYPE_CHECKING:
    from flowtide.config import Config

PACKAGE = "flowtide"
# The tools the generated Makefile calls (`make lint`, `make test`), pinned exactly in the generated
# requirements.txt: the versions flowtide's own dev environment runs the templates with. Bump them here
# and in src/flowtide/templates/init/requirements.txt together; tests/test_workflows.py checks that the
# template, these pins and the installed tools agree.
TOOLS: dict[str, str] = {"ruff": "0.17.6", "pytest": "9.2.0"}
# The installer CI uses for flowtide itself: pip resolves and installs flowtide's dependencies in
# ~50 s on a fresh 2-core runner, uv in ~3 s (same wheels, same pins); pip only installs uv.
UV = "0.13.9"

_EXTRAS = r"\[(?P<extras>\s*[A-Za-z0-9][A-Za-z0-9._-]*(?:\s*,\s*[A-Za-z0-9][A-Za-z0-9._-]*)*\s*)\]"
_NAME = rf"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:{_EXTRAS})?"
# an exact PEP 440 public version: no wildcard, no local part (those never come from an index)
_VERSION = r"\d+(?:\.\d+)*(?:(?:a|b|rc)\d+)?(?:\.post\d+)?(?:\.dev\d+)?"
_INDEX = re.compile(rf"^{_NAME}\s*(?P<op>===|==|~=|!=|<=|>=|<|>)?\s*(?P<version>[^\s;]*)$")
_GIT = re.compile(rf"^(?:{_NAME}\s*@\s*)?(?P<url>git\+[a-z]+://[^\s@]+(?:@(?P<ref>[^\s#@]+))?)(?:#\S*)?$")
_GIT_HTTPS = re.compile(r"^git\+https://[A-Za-z0-9.-]+(?::\d+)?/[A-Za-z0-9._~/-]+$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
# a release tag: v1.2.3, 1.2, v2.0.0rc1 (not v1, a major tag that moves by convention, nor a short hash)
_TAG = re.compile(r"^v?\d+(?:\.\d+)+(?:[-.]?(?:a|b|rc|alpha|beta|post|dev)\d*)*$")
_WHEEL = re.compile(rf"^(?P<path>[^\s\[\]]+\.whl)(?:{_EXTRAS})?$")
_WHEEL_NAME = re.compile(rf"^flowtide-{_VERSION}-[^-]+-[^-]+-[^-]+\.whl$")
_COMMANDS = {"make", "pip", "pip3", "python", "python3", "uv", "poetry", "pipenv", "sh", "bash", "conda"}


@dataclass(frozen=True)
class InstallSpec:
    """What CI installs flowtide from."""

    kind: str
    """index, git or wheel"""
    requirement: str
    """The argument pip gets."""
    path: str | None = None
    """For a wheel: its path relative to the project root."""
    default: bool = False
    """True when flowtide.yaml says nothing and the index default applies."""
    extras: tuple[str, ...] = ()

    @property
    def command(self) -> str:
        """The install step: a pinned uv (from pip), then flowtide by uv into the job's Python."""
        return (
            f"python -m pip install --quiet uv=={UV}\n"
            f"python -m uv pip install --python python {shlex.quote(self.requirement)}\n"
        )

    def describe(self) -> str:
        where = {"index": "the package index", "git": "a pinned git ref", "wheel": "a wheel in the repository"}
        return f"{self.requirement} ({where[self.kind]}{', the default' if self.default else ''})"


def extras(config: Config) -> list[str]:
    """The extras of flowtide the project's CI needs beyond the core."""
    needed: set[str] = set()
    urls = [config.store.remote or "", *(s.url for s in config.sources.values())]
    if any(u.startswith(("s3://", "s3a://")) for u in urls):
        needed.add("s3")
    if config.executor == "ray":
        needed.add("ray")
    if config.model is not None and config.model.format == "onnx":
        needed.add("onnx")
    if config.model is not None and config.model.format == "skops":  # gate, monitor and serve load the model
        needed.add("sklearn")
    return sorted(needed)


def default_requirement(config: Config) -> str:
    """``flowtide[EXTRAS]==VERSION``: this flowtide, from the package index."""
    names = extras(config)
    return f"{PACKAGE}{'[' + ','.join(names) + ']' if names else ''}=={__version__}"


def tool_requirements() -> list[str]:
    return [f"{name}=={version}" for name, version in TOOLS.items()]


def install_spec(config: Config) -> InstallSpec:
    """The validated `ci.install`; a ConfigError at ci.install says why a value is refused and what to write."""
    value = config.ci.install
    if value is None:
        return InstallSpec("index", default_requirement(config), default=True, extras=tuple(extras(config)))
    spec, problem = parse(value.strip(), default_requirement(config))
    if spec is None:
        raise config.error(problem, "ci", "install")
    return spec


def parse(value: str, example: str | None = None) -> tuple[InstallSpec | None, str]:
    """(the spec, "") or (None, why ``value`` is refused, with the fix)."""
    example = example or f"{PACKAGE}=={__version__}"
    words = value.split()
    if not value:
        return None, f"ci.install is empty: write a pinned requirement such as {example!r}, or drop the key"
    if len(words) > 1 and (words[0] in _COMMANDS or words[0].startswith(("./", "-"))):
        return None, (
            f"ci.install is now the requirement CI installs flowtide from, not a shell command ({value!r}); "
            "move the command to `ci.setup` (the project's own set-up step, default `make install`) and drop "
            f"ci.install to install {example!r} from the package index, or set it to a pinned requirement"
        )
    if ".whl" in value and "://" not in value:
        return _wheel(value)
    if "://" in value:
        return _git(value)
    match = _INDEX.match(value)
    if match is None:
        return None, f"ci.install {value!r} is not a requirement: write one such as {example!r}"
    if _normalise(match.group("name")) != PACKAGE:
        return None, f"ci.install must install {PACKAGE}, not {match.group('name')!r}: write e.g. {example!r}"
    op, version = match.group("op"), match.group("version")
    if not op:
        return None, (
            f"ci.install {value!r} is not pinned: any version published under the name (by whoever controls it "
            f"tomorrow) would run in every CI job with its secrets; pin one version: {example!r}"
        )
    if op != "==" or not re.fullmatch(_VERSION, version):
        return None, (
            f"ci.install {value!r} is a range, not a pin: a new release matching it would change what CI runs "
            f"without a commit; pin one exact version: {example!r}"
        )
    return InstallSpec("index", value.replace(" ", ""), extras=_names(match.group("extras"))), ""


def _wheel(value: str) -> tuple[InstallSpec | None, str]:
    match = _WHEEL.match(value)
    if match is None:
        return None, f"ci.install {value!r} is not a wheel path (PATH.whl, optionally followed by [extras])"
    path = match.group("path")
    pure = PurePosixPath(path)
    if "://" in path or "\\" in path or pure.is_absolute() or re.match(r"^[A-Za-z]:", path) or ".." in pure.parts:
        return None, (
            f"ci.install wheel {path!r} must be a relative path inside the project (a file committed to the "
            "repository), e.g. wheels/flowtide-X.Y.Z-py3-none-any.whl"
        )
    if not _WHEEL_NAME.match(pure.name):
        return None, f"ci.install wheel {pure.name!r} is not a flowtide wheel (flowtide-X.Y.Z-py3-none-any.whl)"
    clean = pure.as_posix()
    extras = match.group("extras")
    requirement = f"./{clean}" + (f"[{extras.replace(' ', '')}]" if extras else "")
    return InstallSpec("wheel", requirement, path=clean, extras=_names(extras)), ""


def _git(value: str) -> tuple[InstallSpec | None, str]:
    match = _GIT.match(value)
    if match is None or not match.group("url").startswith("git+"):
        return None, (
            f"ci.install {value!r} is not a supported URL: use git+https://HOST/OWNER/REPO@TAG (a tag or a "
            "40-hex commit), a wheel in the repository, or flowtide==VERSION"
        )
    if match.group("name") and _normalise(match.group("name")) != PACKAGE:
        return None, f"ci.install must install {PACKAGE}, not {match.group('name')!r}"
    url, ref = match.group("url"), match.group("ref")
    base = url.rsplit("@", 1)[0] if ref else url
    if not _GIT_HTTPS.match(base):
        return None, (
            f"ci.install {value!r}: only git+https:// URLs are accepted (plain http can be altered on the way; "
            "ssh needs a key on the runner)"
        )
    if not ref:
        return None, (
            f"ci.install {value!r} names no ref, so CI would install whatever the default branch holds at that "
            "moment; pin a tag (…@v1.2.3) or a 40-hex commit (…@<sha>)"
        )
    if not (_COMMIT.match(ref) or _TAG.match(ref)):
        return None, (
            f"ci.install {value!r} pins {ref!r}, which looks like a branch (a branch moves); pin a version tag "
            "(…@v1.2.3) or a 40-hex commit"
        )
    name = match.group("name")
    extras = match.group("extras")
    requirement = url if not name else f"{PACKAGE}{'[' + extras.replace(' ', '') + ']' if extras else ''} @ {url}"
    return InstallSpec("git", requirement, extras=_names(extras)), ""


def _names(extras: str | None) -> tuple[str, ...]:
    return tuple(sorted(_normalise(e) for e in extras.split(","))) if extras else ()


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --- what doctor checks ------------------------------------------------------------


def problems(root: Path, config: Config) -> list[str]:
    """Why CI could not install a pinned flowtide and the pinned tools; [] when it can."""
    from flowtide.errors import ConfigError

    found: list[str] = []
    try:
        spec = install_spec(config)
    except ConfigError as exc:
        return [exc.message]
    lacking = sorted(set(extras(config)) - set(spec.extras))
    if lacking:
        found.append(
            f"ci.install {config.ci.install!r} lacks the extra(s) {', '.join(lacking)} this project needs "
            f"(remote store, sources, executor or model format): add [{','.join(sorted({*spec.extras, *lacking}))}]"
            + (" (name it: flowtide[...] @ git+https://...)" if spec.kind == "git" else "")
        )
    if spec.path is not None:
        wheel = root / spec.path
        if not wheel.is_file():
            found.append(f"ci.install names the wheel {spec.path}, which does not exist: CI cannot install flowtide")
        elif not _tracked(root, spec.path):
            found.append(f"ci.install names the wheel {spec.path}, which git does not track: a CI checkout lacks it")
    for path in sorted(root.glob("requirements*.txt")):
        found += _unpinned_lines(path, root)
    return found


def _tracked(root: Path, rel: str) -> bool:
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "ls-files", "--error-unmatch", "--", rel], cwd=root, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return True  # no git to ask: the file exists, which is all that can be checked
    if proc.returncode != 0 and "not a git repository" in proc.stderr:
        return True
    return proc.returncode == 0


def _unpinned_lines(path: Path, root: Path) -> list[str]:
    """Lines of a requirements file that name flowtide or a pinned tool without an exact pin."""
    found: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path.name}: unreadable ({exc})"]
    for number, raw in enumerate(lines, 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        name = _normalise(match.group(1)) if match else ""
        where = f"{path.relative_to(root).as_posix()}:{number}"
        if name == PACKAGE:
            spec, problem = parse(line.split(";", 1)[0].strip())
            if spec is None:
                found.append(f"{where}: {problem.replace('ci.install ', '', 1)}")
        elif name in TOOLS:
            exact = re.fullmatch(rf"{re.escape(match.group(1))}\s*==\s*{_VERSION}", line.split(";", 1)[0].strip())
            if not exact:
                found.append(f"{where}: {line!r} is not pinned; pin the exact version, e.g. {name}=={TOOLS[name]}")
    return found
