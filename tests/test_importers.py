"""`flowtide import dvc | gto` on a real repository built with DVC and GTO's own command lines.

dvc and gto are not flowtide dependencies (nor in the test environment): a session
fixture installs them into a fresh virtualenv with uv (cached: seconds after the
first time) and builds one repository with `dvc add`, `dvc import-url` from a real
HTTP server on 127.0.0.1, `dvc repro` of a dvc.yaml with vars and foreach, and
`gto register` / `gto assign`. Each test works on a copy of it.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from .conftest import GIT_ENV, fresh_venv, git, run_cli

PARAMS = """\
prepare:
  split: 0.5
train:
  seed: 7
  models:
    small: {n: 2}
    big: {n: 5}
"""

DVC_YAML = """\
vars:
  - out_dir: models
stages:
  prepare:
    cmd: python src/prepare.py
    deps:
      - src/prepare.py
      - data/raw.csv
    params:
      - prepare.split
    outs:
      - data/prepared
  train:
    foreach: ${train.models}
    do:
      cmd: python src/train.py ${key} ${item.n}
      deps:
        - src/train.py
        - data/prepared
      params:
        - train.seed
      outs:
        - ${out_dir}/${key}.bin
      metrics:
        - metrics-${key}.json:
            cache: false
  report:
    foreach: [a, b]
    do:
      cmd: python src/report.py ${item}
      deps: [data/remote.csv, src/report.py]
      outs: ["report-${item}.txt"]
      plots:
        - plot-${item}.csv:
            x: step
artifacts:
  small:
    path: models/small.bin
    type: model
"""

PREPARE = """\
import pathlib
split = [line for line in open("params.yaml") if "split" in line][0].split(":")[1].strip()
lines = open("data/raw.csv").read().splitlines()
pathlib.Path("data/prepared").mkdir(parents=True, exist_ok=True)
open("data/prepared/train.csv", "w").write("\\n".join(lines) + f"\\n# split {split}\\n")
open("data/prepared/test.csv", "w").write("\\n".join(lines[:2]) + "\\n")
"""

TRAIN = """\
import json, pathlib, sys
name, n = sys.argv[1], int(sys.argv[2])
pathlib.Path("models").mkdir(exist_ok=True)
open(f"models/{name}.bin", "w").write(open("data/prepared/train.csv").read() * n)
open(f"metrics-{name}.json", "w").write(json.dumps({"accuracy": 0.5 + n / 100}))
"""

REPORT = """\
import sys
item = sys.argv[1]
open(f"report-{item}.txt", "w").write(item + ":" + open("data/remote.csv").read())
open(f"plot-{item}.csv", "w").write("step,loss\\n1,0.5\\n2,0.25\\n")
"""

CML_WORKFLOW = """\
name: train
on: [pull_request]
jobs:
  train:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: iterative/setup-cml@v2
      - run: |
          dvc repro
          cml comment create report.md
"""


# Runs DVC's and GTO's command lines (the functions their console scripts call) in one process: a `dvc`
# or `gto` start-up costs 1-3 s of imports, and the repository takes a dozen commands.
DRIVER = """\
import json, subprocess, sys
from dvc.cli import main as dvc
from gto.cli import app as gto
for kind, *args in json.loads(sys.argv[1]):
    if kind == "dvc":
        code = dvc(args)
    elif kind == "gto":
        try:
            code = gto(args, standalone_mode=False) and 0
        except SystemExit as exc:
            code = exc.code
    elif kind == "git":
        code = subprocess.run(["git", *args]).returncode
    else:
        code = f"unknown step {kind}"
    if code:
        sys.exit(f"{kind} {' '.join(args)} failed: {code}")
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="session")
def dvc_repo(tmp_path_factory, worker_id) -> tuple[Path, str]:
    """The DVC + GTO repository (read-only: copy it) and the URL its import-url came from.

    Built once per test session, also under pytest-xdist: the first worker builds it under a file lock
    in the session's shared temp directory, the others wait and use it.
    """
    import fcntl

    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    done = shared / "dvc-repo.json"
    with open(shared / "dvc-repo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            root, url = _build_dvc_repo(shared / "dvc-repo", shared / "dvc-tools")
            done.write_text(json.dumps([str(root), url]))
    root, url = json.loads(done.read_text())
    return Path(root), url


def _build_dvc_repo(base: Path, tools: Path) -> tuple[Path, str]:
    venv = fresh_venv(tools, "dvc>=3.50", "gto>=1.7")
    served = base / "served"
    served.mkdir(parents=True)
    (served / "remote.csv").write_text("x,y\n1,1\n2,4\n")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _Quiet(*a, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/remote.csv"
    root = base / "proj"
    root.mkdir()
    env = {**os.environ, **GIT_ENV, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}

    def run(*steps: list[str]) -> None:
        proc = subprocess.run(
            [str(venv / "bin" / "python"), "-c", DRIVER, json.dumps(steps)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"

    try:
        git("init", "-q", "-b", "main", cwd=root)
        (root / "data" / "imgs" / "sub").mkdir(parents=True)
        (root / "src").mkdir()
        (root / "data" / "raw.csv").write_text("a,b\n1,2\n3,4\n")
        (root / "data" / "imgs" / "1.txt").write_text("x\n")
        (root / "data" / "imgs" / "sub" / "2.txt").write_text("y\n")
        (root / "params.yaml").write_text(PARAMS)
        (root / "dvc.yaml").write_text(DVC_YAML)
        (root / "src" / "prepare.py").write_text(PREPARE)
        (root / "src" / "train.py").write_text(TRAIN)
        (root / "src" / "report.py").write_text(REPORT)
        (root / ".github" / "workflows").mkdir(parents=True)
        (root / ".github" / "workflows" / "train.yml").write_text(CML_WORKFLOW)
        run(
            ["dvc", "init", "-q"],
            ["dvc", "add", "-q", "data/raw.csv", "data/imgs"],
            ["dvc", "import-url", "-q", url, "data/remote.csv"],
            ["dvc", "repro", "-q"],
            ["git", "add", "-A"],
            ["git", "commit", "-qm", "pipeline"],
            ["gto", "register", "small"],  # v0.0.1
            ["gto", "assign", "small", "--version", "v0.0.1", "--stage", "prod"],
        )
        (root / "params.yaml").write_text(PARAMS.replace("small: {n: 2}", "small: {n: 3}"))
        run(
            ["dvc", "repro", "-q"],
            ["git", "add", "-A"],
            ["git", "commit", "-qm", "a bigger small model"],
            ["gto", "register", "small", "--bump-minor"],  # v0.1.0
            ["gto", "assign", "small", "--version", "v0.1.0", "--stage", "staging"],
        )
    finally:
        server.shutdown()
        server.server_close()
    return root, url


@pytest.fixture
def project(dvc_repo, tmp_path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(dvc_repo[0], root, symlinks=True)
    return root


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _dvc_lock(root: Path) -> dict:
    from flowtide.config import parse_yaml

    return parse_yaml((root / "dvc.lock").read_bytes(), "dvc.lock")[0]


EXPECTED = """\
# Imported from DVC by `flowtide import dvc` (dvc.yaml, dvc.lock, *.dvc files).
# dvc.yaml, dvc.lock, the *.dvc files and .dvc/ are no longer read: remove them when you are done.
project: proj
sources:
  raw:
    url: data/raw.csv
    path: data/raw.csv
    storage: store
  remote:
    url: {url}
    path: data/remote.csv
    storage: store
stages:
  track-data-imgs:
    cmd: 'true'
    outs: [data/imgs]
  prepare:
    cmd: python src/prepare.py
    deps: [src/prepare.py, data/raw.csv]
    params: [prepare.split]
    outs: [data/prepared]
  train-small:
    cmd: python src/train.py small 3
    deps: [src/train.py, data/prepared]
    params: [train.seed]
    outs: [models/small.bin]
    metrics: [metrics-small.json]
  train-big:
    cmd: python src/train.py big 5
    deps: [src/train.py, data/prepared]
    params: [train.seed]
    outs: [models/big.bin]
    metrics: [metrics-big.json]
  report-a:
    cmd: python src/report.py a
    deps: [data/remote.csv, src/report.py]
    outs: [report-a.txt]
    plots: [plot-a.csv]
  report-b:
    cmd: python src/report.py b
    deps: [data/remote.csv, src/report.py]
    outs: [report-b.txt]
    plots: [plot-b.csv]
"""


def test_import_dvc_then_gto_on_a_real_repository(project, dvc_repo):
    from flowtide.lock import Lock
    from flowtide.store import Store

    url = dvc_repo[1]
    (project / "models" / "big.bin").unlink()  # a fresh clone without `dvc checkout`: the importer writes it back

    done = run_cli("import", "dvc", cwd=project)
    assert done.code == 0, done.err
    assert (project / "flowtide.yaml").read_text() == EXPECTED.format(url=url)
    assert "restored: models/big.bin (from the store)" in done.out
    assert "CML: .github/workflows/train.yml:8: - uses: iterative/setup-cml@v2" in done.out
    assert "CML: .github/workflows/train.yml:11: cml comment create report.md" in done.out
    assert "flowtide ci generate" in done.out
    # what git sees: the two new files and, for flowtide's own state, a line or two of .gitignore; no data
    changed = git("status", "--porcelain", "--untracked-files=all", cwd=project).splitlines()
    assert sorted(line.split()[-1] for line in changed) == [".gitignore", "flowtide.lock", "flowtide.yaml"], changed

    # every locked blob is in the store, and holds exactly the bytes DVC recorded (MD5) under flowtide's hash
    lock = Lock.load(project / "flowtide.lock")
    store = Store(project / ".flowtide" / "cache")
    dvc_lock = _dvc_lock(project)["stages"]
    recorded = {out["path"]: out["md5"] for entry in dvc_lock.values() for out in entry["outs"]}
    for name, entry in lock.stages.items():
        for path, out in entry["outs"].items():
            if "files" in out:
                assert out["nfiles"] == len(out["files"]) > 0
                for rel, child in out["files"].items():
                    store.verify(child["hash"])
                    assert store.read_bytes(child["hash"]) == (project / path / rel).read_bytes(), (name, rel)
            else:
                store.verify(out["hash"])
                assert hashlib.md5(store.read_bytes(out["hash"]), usedforsecurity=False).hexdigest() == recorded[path]
    assert sorted(lock.stages) == ["prepare", "report-a", "report-b", "track-data-imgs", "train-big", "train-small"]
    assert lock.sources["remote"]["url"] == url
    assert store.read_bytes(lock.sources["remote"]["hash"]) == b"x,y\n1,1\n2,4\n"
    assert sorted(lock.stages["track-data-imgs"]["outs"]["data/imgs"]["files"]) == ["1.txt", "sub/2.txt"]

    # up to date without recomputing: status says so, run skips every stage and rewrites nothing
    status = run_cli("status", cwd=project)
    assert (status.code, status.out) == (0, "Everything is up to date.\n"), status.err
    before = {p: p.stat().st_mtime_ns for p in project.rglob("*") if p.is_file() and ".flowtide" not in p.parts}
    ran = run_cli("run", "--json", cwd=project)
    assert ran.code == 0, ran.err
    result = json.loads(ran.out)
    assert result["ran"] == [] and result["restored"] == []
    assert sorted(result["skipped"]) == sorted(lock.stages)
    assert {p: p.stat().st_mtime_ns for p in before} == before
    pulled = run_cli("pull", cwd=project)  # the import-url source is at its origin's bytes: unchanged (no server now)
    assert "raw " in pulled.out and "unchanged" in pulled.out

    # GTO: two versions with their commits, tagger and date; prod → production, staging → staging
    tags = dict(
        line.split(" ", 1)
        for line in git(
            "for-each-ref", "--format=%(refname:strip=2) %(*objectname)", "refs/tags", cwd=project
        ).splitlines()
    )
    first = run_cli("import", "gto", cwd=project)
    assert first.code == 0, first.err
    assert "appended 4 event(s)" in first.out
    listed = run_cli("models", "--json", cwd=project)
    versions = json.loads(listed.out)
    versions = versions.get("small", versions) if isinstance(versions, dict) else versions
    rows = {row["version"]: row for row in (versions["versions"] if isinstance(versions, dict) else versions)}
    assert rows[1]["stage"] == "production" and rows[2]["stage"] == "staging"
    assert rows[1]["tag"] == "small@v0.0.1" and rows[2]["tag"] == "small@v0.1.0"
    assert rows[1]["commit"] == tags["small@v0.0.1"] and rows[2]["commit"] == tags["small@v0.1.0"]
    assert rows[1]["created_by"] == "Test <test@example.com>"
    assert rows[1]["created"].endswith("Z")
    # the artifacts' bytes as they were at each tagged commit, out of DVC's cache, proven
    v1 = store.read_bytes(rows[1]["hash"])
    assert v1.count(b"# split") == 2 and store.read_bytes(rows[2]["hash"]).count(b"# split") == 3
    text = run_cli("models", cwd=project)
    assert "production" in text.out and "staging" in text.out
    shown = run_cli("models", "show", "small", "1", cwd=project)
    assert shown.code == 0 and "small@v0.0.1" in shown.out and "imported from GTO tag small#prod#1" in shown.out

    # idempotent: a second import adds nothing
    registry = (project / "flowtide.registry").read_bytes()
    again = run_cli("import", "gto", cwd=project)
    assert again.code == 0 and "appended 0 event(s)" in again.out.replace("would append", "appended")
    assert "4 tag(s) already imported" in again.out
    assert (project / "flowtide.registry").read_bytes() == registry


def test_a_corrupt_cache_object_is_named_and_nothing_is_written(project):
    md5 = next(
        out["md5"] for out in _dvc_lock(project)["stages"]["train@big"]["outs"] if out["path"] == "models/big.bin"
    )
    obj = project / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"not the model\n")
    before = sorted(p.relative_to(project).as_posix() for p in project.rglob("*"))
    done = run_cli("import", "dvc", cwd=project)
    assert done.code == 1
    assert f"DVC cache object {obj} for models/big.bin (stage train@big, dvc.lock:" in done.err
    assert "nothing was imported" in done.err and "Traceback" not in done.err
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*")) == before


def test_a_missing_cache_object_without_a_working_copy_is_an_error(project):
    md5 = next(out["md5"] for out in _dvc_lock(project)["stages"]["prepare"]["outs"])
    (project / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).unlink()  # the .dir listing
    shutil.rmtree(project / "data" / "prepared")
    done = run_cli("import", "dvc", cwd=project)
    assert done.code == 1
    assert "data/prepared (stage prepare, dvc.lock:" in done.err and f"no listing {md5}" in done.err
    assert not (project / "flowtide.yaml").exists() and not (project / ".flowtide").exists()


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (
            "dvc.yaml",
            "      - data/raw.csv\n",
            "      - ../outside.csv\n",
            "dvc.yaml:8: path '../outside.csv' escapes the project directory",
        ),
        (
            "dvc.yaml",
            "      - data/raw.csv\n",
            "      - /etc/passwd\n",
            "dvc.yaml:8: path '/etc/passwd' must be a relative path inside the project",
        ),
        (
            "data/raw.csv.dvc",
            "path: raw.csv",
            "path: ../../secret",
            "data/raw.csv.dvc:5: out path '../../secret' escapes the project directory",
        ),
        (
            "dvc.yaml",
            "    foreach: [a, b]\n",
            "    foreach: [a, b\n",
            "dvc.yaml:29:7: invalid YAML: expected ',' or ']'",
        ),
        ("dvc.yaml", "${item.n}", "${item.size}", "dvc.yaml:16: ${item.size} is not defined"),
        (
            "dvc.yaml",
            "    deps:\n      - src/prepare.py\n      - data/raw.csv\n",
            "    deps: 5\n",
            "dvc.yaml:6: deps must be a list, not int",
        ),
        (
            "dvc.lock",
            None,
            "schema: '2.0'\nstages:\n  prepare:\n    cmd: x\n    outs: {a: 1}\n",
            "dvc.lock:5: outs must be a list, not dict",
        ),
        (
            "dvc.lock",
            None,
            "stages:\n  prepare:\n    cmd: x\n    outs:\n    - path: /etc/passwd\n      md5: 0\n",
            "dvc.lock:5: out path '/etc/passwd' must be a relative path inside the project",
        ),
        ("data/raw.csv.dvc", None, "outs: data.csv\n", "data/raw.csv.dvc: not a DVC file: expected an `outs:` list"),
        (
            "data/raw.csv.dvc",
            None,
            "outs:\n- md5: nothex\n  path: raw.csv\n",
            "data/raw.csv.dvc:2: md5 'nothex' is not an MD5 hex digest",
        ),
    ],
)
def test_hostile_or_broken_dvc_files_are_refused_with_file_and_line(project, file, old, new, expected):
    text = (project / file).read_text()
    assert old is None or old in text
    (project / file).write_text(new if old is None else text.replace(old, new, 1))
    done = run_cli("import", "dvc", cwd=project)
    assert done.code == 2, done.out
    assert done.err.startswith(f"error: {expected}"), done.err
    assert "Traceback" not in done.err
    assert not (project / "flowtide.yaml").exists() and not (project / ".flowtide").exists()


def test_existing_config_needs_force_and_dry_run_writes_nothing(project, dvc_repo):
    (project / "flowtide.yaml").write_text("project: mine\n")
    refused = run_cli("import", "dvc", cwd=project)
    assert refused.code == 2 and "flowtide.yaml already exists" in refused.err and "--force" in refused.err
    dry = run_cli("import", "dvc", "--dry-run", cwd=project)
    assert dry.code == 0, dry.err
    assert dry.out.startswith(EXPECTED.format(url=dvc_repo[1]))
    assert "would write flowtide.yaml: 2 source(s), 6 stage(s)" in dry.out
    assert (project / "flowtide.yaml").read_text() == "project: mine\n"
    assert not (project / "flowtide.lock").exists() and not (project / ".flowtide").exists()
    forced = run_cli("import", "dvc", "--force", cwd=project)
    assert forced.code == 0 and (project / "flowtide.yaml").read_text() == EXPECTED.format(url=dvc_repo[1])


def test_a_stage_dvc_would_rerun_is_left_stale_for_flowtide_too(project):
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("seed: 7", "seed: 8"))
    done = run_cli("import", "dvc", cwd=project)
    assert done.code == 0, done.err
    assert "stale: train-small (param train.seed changed since dvc.lock)" in done.out
    status = run_cli("status", "--json", cwd=project)
    stale = {s["stage"]: s["reasons"] for s in json.loads(status.out)["stale"]}
    assert stale == {"train-small": ["never run"], "train-big": ["never run"]}


def test_gto_stages_without_a_counterpart_must_be_mapped(project, dvc_repo):
    dvc_bin = dvc_repo[0].parent.parent / "dvc-tools" / "bin"
    env = {**os.environ, **GIT_ENV, "PATH": f"{dvc_bin}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        ["gto", "assign", "small", "--version", "v0.1.0", "--stage", "dev"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    assert run_cli("import", "dvc", cwd=project).code == 0
    refused = run_cli("import", "gto", cwd=project)
    assert refused.code == 2 and "GTO stage dev has no flowtide counterpart" in refused.err
    assert not (project / "flowtide.registry").exists()
    mapped = run_cli("import", "gto", "--stage", "dev=skip", cwd=project)
    assert mapped.code == 0 and "appended 4 event(s)" in mapped.out


# --- formats without running DVC: layouts and grammar this DVC release no longer writes, by hand ---


def test_matrix_and_foreach_names_and_wdir_paths_are_dvcs(tmp_path):
    from flowtide.errors import ConfigError
    from flowtide.importers._dvcfiles import read_pipeline

    (tmp_path / "dvc.yaml").write_text(
        "stages:\n"
        "  train:\n"
        "    matrix: {model: [cnn, xgb], lr: [0.1, 1], cfg: [{a: 1}]}\n"
        "    wdir: sub\n"
        "    cmd: ['echo ${item.model}', 'echo ${item.lr}']\n"
        "    deps: [../shared.txt]\n"
        '    outs: ["out-${item.model}-${item.lr}.txt"]\n'
        "  ev:\n"
        "    foreach: [{name: x}, {name: y}]\n"
        "    do:\n      cmd: echo ${item.name} ${seed}\n"
    )
    stages, _ = read_pipeline(tmp_path, {"seed": 3})
    # the names `dvc stage list` prints (DVC 3.67) for the same file
    assert [s.dvc_name for s in stages] == [
        "train@cnn-0.1-cfg0",
        "train@cnn-1-cfg0",
        "train@xgb-0.1-cfg0",
        "train@xgb-1-cfg0",
        "ev@0",
        "ev@1",
    ]
    first = stages[0]
    assert (first.name, first.cmd, first.deps, first.outs) == (
        "train-cnn-0.1-cfg0",
        "cd sub && echo cnn && echo 0.1",
        ["shared.txt"],
        ["sub/out-cnn-0.1.txt"],
    )
    assert stages[-1].cmd == "echo y 3"
    (tmp_path / "dvc.yaml").write_text("stages:\n  s:\n    wdir: sub\n    cmd: x\n    deps: [../../etc/passwd]\n")
    with pytest.raises(ConfigError) as caught:
        read_pipeline(tmp_path, {})
    assert str(caught.value).startswith(
        "dvc.yaml:5: path '../../etc/passwd' escapes the project directory (from wdir sub)"
    )


def test_a_dvc2_cache_and_its_crlf_md5_are_read(tmp_path):
    """DVC 2 kept objects in .dvc/cache/xx/… and hashed text with CRLF read as LF; .dvc files had no `hash:` field."""
    from flowtide.lock import Lock
    from flowtide.store import Store

    data = b"a,b\r\n1,2\r\n"
    lf_md5 = hashlib.md5(data.replace(b"\r\n", b"\n"), usedforsecurity=False).hexdigest()
    (tmp_path / ".dvc" / "cache" / lf_md5[:2]).mkdir(parents=True)
    (tmp_path / ".dvc" / "cache" / lf_md5[:2] / lf_md5[2:]).write_bytes(data)
    (tmp_path / "data.csv.dvc").write_text(f"outs:\n- md5: {lf_md5}\n  size: {len(data)}\n  path: data.csv\n")
    done = run_cli("import", "dvc", cwd=tmp_path)
    assert done.code == 0, done.err
    assert "restored: data.csv (from the store)" in done.out
    assert (tmp_path / "data.csv").read_bytes() == data
    lock = Lock.load(tmp_path / "flowtide.lock")
    assert Store(tmp_path / ".flowtide" / "cache").read_bytes(lock.sources["data"]["hash"]) == data
    assert run_cli("pull", cwd=tmp_path).code == 0  # the tracked file is its own source: unchanged
    assert Lock.load(tmp_path / "flowtide.lock").sources == lock.sources


def test_a_gto_artifact_path_leading_out_is_refused_with_file_and_line(project):
    assert run_cli("import", "dvc", cwd=project).code == 0
    dvc_yaml = project / "dvc.yaml"
    dvc_yaml.write_text(dvc_yaml.read_text() + "  evil:\n    path: ../../etc/passwd\n")
    git("commit", "-qam", "declare a hostile artifact", cwd=project)
    git("tag", "-a", "evil@v1.0.0", "-m", "Registering artifact evil version v1.0.0", cwd=project)
    commit = git("rev-parse", "HEAD", cwd=project)
    line = dvc_yaml.read_text().splitlines().index("    path: ../../etc/passwd") + 1
    done = run_cli("import", "gto", cwd=project)
    assert done.code == 2
    assert done.err.startswith(
        f"error: dvc.yaml at {commit[:10]}:{line}: artifact 'evil' path '../../etc/passwd' escapes the project directory"
    ), done.err
    assert not (project / "flowtide.registry").exists()
