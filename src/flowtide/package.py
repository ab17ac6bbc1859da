"""Packaging: one registered version as a self-contained directory that `flowtide serve` can serve.

The bundle holds the verified artifact, a minimal flowtide.yaml and a one-version
registry (in production), the model card, the input schema, pinned requirements
and a Dockerfile; ``docker build`` on the directory gives a serving image.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import atomic_write
from .errors import UsageError
from .formats import artifact_bytes, input_schema, model_card
from .fsck import ensure_blob
from .registry import REGISTRY_FILE, Registry, actor, now
from .registry.log import _dump_event
from .validators import escapes, path_problem

if TYPE_CHECKING:
    from .project import Project

PORT = 8000
APP_DIR = "/srv/model"


@dataclass
class Bundle:
    path: Path
    model: str
    version: int
    hash: str
    files: list[str] = field(default_factory=list)
    repaired_from: str | None = None
    """The stored artifact was corrupt and was replaced from this good copy before packaging."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "model": self.model,
            "version": self.version,
            "hash": self.hash,
            "files": self.files,
            "repaired_from": self.repaired_from,
        }


# what serving a model of each built-in format needs beyond the core and the `serve` extra: an ONNX
# model needs only the runtime (skl2onnx, in the onnx extra, is for training and pulls in scikit-learn)
_SERVING_EXTRAS = {"skops": ("serve", "sklearn"), "onnx": ("serve",), "python": ("serve",)}
_SERVING_EXTRA_PACKAGES = {"onnx": ("onnxruntime",)}
_MARKER = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


def requirements(model_format: str) -> list[str]:
    """``name==version`` pins, as installed here, of flowtide and what the image needs to serve ``model_format``.

    The core, the ``serve`` extra and the format's own libraries (scikit-learn and skops for skops,
    onnxruntime for onnx); not MLflow, Ray, S3 or the training-only libraries.
    """
    from importlib import metadata

    pins = {"flowtide": metadata.version("flowtide")}
    extras = _SERVING_EXTRAS.get(model_format, ("serve",))
    wanted = list(_SERVING_EXTRA_PACKAGES.get(model_format, ()))
    for requirement in metadata.requires("flowtide") or []:
        marker = _MARKER.search(requirement)
        if marker is None or marker.group(1) in extras:
            wanted.append(requirement)
    from . import plugins

    if plugins.has(plugins.FORMATS, model_format):  # a format from another package: the image needs that package
        name, _, version = plugins.distribution(plugins.FORMATS, model_format).partition(" ")
        if name != "flowtide" and version:
            pins[name] = version
    for requirement in wanted:
        name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)
        try:
            pins[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return [f"{name}=={version}" for name, version in sorted(pins.items(), key=lambda kv: kv[0].lower())]


def dockerfile(model: str, version: int) -> str:
    return f"""\
# Serves {model} v{version} with `flowtide serve`. Written by `flowtide package`.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR {APP_DIR}
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --system --uid 10001 --home-dir {APP_DIR} flowtide && chown -R 10001 {APP_DIR}
USER 10001
EXPOSE {PORT}
CMD ["flowtide", "serve", "-C", "{APP_DIR}", "--host", "0.0.0.0", "--port", "{PORT}", "--interval", "0"]
"""


def _config(project: Project, artifact: str, schema: dict[str, dict[str, Any]]) -> dict[str, Any]:
    model = project.config.model
    spec: dict[str, Any] = {"name": model.name, "path": artifact, "format": model.format}
    for key in ("loader", "target", "intended_use"):
        if getattr(model, key):
            spec[key] = getattr(model, key)
    spec["features"] = list(schema) or list(model.features or [])
    if model.trusted_types:
        spec["trusted_types"] = list(model.trusted_types)
    config: dict[str, Any] = {"project": project.config.project, "model": spec}
    if model.reference and schema:
        spec["reference"] = model.reference
        columns = {}
        for name, rule in schema.items():
            columns[name] = {k: v for k, v in rule.items() if v is not None and v is not False}
        config["checks"] = {model.reference: {"columns": columns}}
    return config


def _yaml(data: dict[str, Any]) -> str:
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False
    out = io.StringIO()
    yaml.dump(data, out)
    return "# A bundle written by `flowtide package`: serve it with `flowtide serve -C .`\n" + out.getvalue()


def package(project: Project, model: str, version: str | int, out: str | Path | None = None) -> Bundle:
    """Write the bundle of ``model`` ``version`` into ``out`` (default dist/MODEL-vN) and return it."""
    if project.config.model is None or project.config.model.name != model:
        declared = project.config.model.name if project.config.model else "none"
        raise UsageError(f"unknown model {model!r}: flowtide.yaml declares model {declared!r}")
    registry = Registry.load(project)
    v = registry.get(model, version)
    repaired = ensure_blob(project, v.hash, what=f"{v.label} artifact", candidates=[v.path])
    data, _ = artifact_bytes(project, v)
    target = Path(out) if out else project.root / "dist" / f"{model}-v{v.version}"
    if target.exists() and any(target.iterdir()) and not (target / REGISTRY_FILE).exists():
        raise UsageError(f"{target} exists and is not a flowtide bundle; choose another -o DIR")
    _inside_bundle(target, v.path)
    target.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes | str] = {}
    files[v.path] = data
    schema = input_schema(project)
    files["flowtide.yaml"] = _yaml(_config(project, v.path, schema))
    register_event = dict(v.history[0])
    promote_event = {
        "event": "promote",
        "model": model,
        "version": v.version,
        "from": "candidate",
        "to": "production",
        "at": now(),
        "forced": True,
        "reason": f"bundle written by `flowtide package` (stage in the source registry: {v.stage})",
        **actor(project),
    }
    files[REGISTRY_FILE] = _dump_event(register_event) + "\n" + _dump_event(promote_event) + "\n"
    files["MODEL_CARD.md"] = model_card(project, v)
    files["input_schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    files["requirements.txt"] = "\n".join(requirements(v.format)) + "\n"
    files["Dockerfile"] = dockerfile(model, v.version)
    files[".dockerignore"] = ".flowtide/\n"
    loader = project.config.model.loader
    if v.format == "python" and loader:
        module = loader.split(":", 1)[0].replace(".", "/")
        for base in (project.root, project.root / "src"):
            for candidate in (base / f"{module}.py", base / module):
                if candidate.exists():
                    relative = candidate.relative_to(project.root).as_posix()
                    _inside_bundle(target, relative)
                    if candidate.is_dir():
                        shutil.copytree(candidate, target / relative, dirs_exist_ok=True)
                    else:
                        files[relative] = candidate.read_bytes()
    for name in files:  # the artifact's name comes from the registry: it must land inside the bundle
        _inside_bundle(target, name)
    for name, content in files.items():
        atomic_write(target / name, content, fsync=False)
    return Bundle(target, model, v.version, v.hash, sorted(files), repaired)


def _inside_bundle(target: Path, name: str) -> None:
    """The shared path rule, with the bundle directory as the root (symlinks in an old bundle included)."""
    problem = path_problem(name)
    real = None if problem else escapes(target, target / name)
    if problem or real is not None:
        raise UsageError(
            f"bundle file {name!r} " + (f"{problem} {target}" if problem else f"resolves to {real}, outside {target}"),
            hint="Bundle files must stay inside the -o directory: check the version's `path` in flowtide.registry "
            "and symlinks in the directory.",
        )
