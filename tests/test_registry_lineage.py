"""register refuses an artifact that is not what its stage produced, so the lineage it records is true."""

from __future__ import annotations

import json
from pathlib import Path

from flowtide.hashing import hash_bytes

from .conftest import run_cli

TRAIN = "mkdir -p models\nprintf 'model v1' > models/model.bin\necho '{\"accuracy\": 0.9}' > metrics.json\n"


def make_project(root: Path, *, outs: str = "models/model.bin", model_path: str = "models/model.bin") -> Path:
    root.mkdir()
    (root / "train.sh").write_text(TRAIN)
    (root / "flowtide.yaml").write_text(
        "project: p\n"
        "stages:\n"
        "  train:\n"
        "    cmd: sh train.sh\n"
        "    deps: [train.sh]\n"
        f"    outs: [{outs}]\n"
        "    metrics: [metrics.json]\n"
        f"model: {{name: m, path: {model_path}, format: skops}}\n"
    )
    return root


def run_ok(*args: str, cwd: Path) -> str:
    result = run_cli(*args, cwd=cwd)
    assert result.code == 0, result.err + result.out
    return result.out


def recorded(root: Path, out: str = "models/model.bin") -> str:
    return json.loads((root / "flowtide.lock").read_text())["stages"]["train"]["outs"][out]["hash"]


def refusal(name: str, path: str, actual: bytes, expected: str) -> str:
    return (
        f"error: m: the artifact {path} (hash {hash_bytes(actual)[:12]}) is not what stage {name!r} produced "
        f"according to flowtide.lock (hash {expected[:12]}); not registered\n"
        "It changed after the run, or a run did not finish. Run the pipeline (`flowtide run`) and register again.\n"
    )


def test_an_artifact_changed_after_the_run_is_refused_until_the_pipeline_runs(tmp_path):
    root = make_project(tmp_path / "p")
    run_ok("run", cwd=root)
    produced = recorded(root)
    assert produced == hash_bytes(b"model v1")
    # what a stage process orphaned by a killed run did: overwrite the output after the lock recorded it
    (root / "models/model.bin").write_bytes(b"written later by an orphan")
    refused = run_cli("register", cwd=root)
    assert refused.code == 1
    assert refused.err == refusal("train", "models/model.bin", b"written later by an orphan", produced)
    assert not (root / "flowtide.registry").exists()

    run_ok("run", cwd=root)  # restores the recorded bytes from the store
    version = json.loads(run_ok("register", "--json", cwd=root))
    assert version["hash"] == produced == recorded(root)
    event = json.loads((root / "flowtide.registry").read_text().splitlines()[0])
    assert event["lineage"]["train"]["outs"]["models/model.bin"]["hash"] == event["hash"]


def test_a_file_of_a_directory_output_is_checked_against_its_file_map(tmp_path):
    root = make_project(tmp_path / "p", outs="models")
    run_ok("run", cwd=root)
    files = json.loads((root / "flowtide.lock").read_text())["stages"]["train"]["outs"]["models"]["files"]
    (root / "models/model.bin").write_bytes(b"edited by hand")
    refused = run_cli("register", cwd=root)
    assert refused.code == 1
    assert refused.err == refusal("train", "models/model.bin", b"edited by hand", files["model.bin"]["hash"])


def test_an_artifact_no_stage_produces_registers_as_before(tmp_path):
    root = make_project(tmp_path / "p", model_path="models/hand-made.bin")
    run_ok("run", cwd=root)
    (root / "models/hand-made.bin").write_bytes(b"trained in a notebook")
    version = json.loads(run_ok("register", "--json", cwd=root))
    assert version["hash"] == hash_bytes(b"trained in a notebook")


def test_a_stage_output_the_lock_has_no_record_of_registers_as_before(tmp_path):
    """No record, no false claim: the version simply has no lineage for that stage."""
    root = make_project(tmp_path / "p")
    (root / "models").mkdir()
    (root / "models/model.bin").write_bytes(b"trained before the pipeline existed")
    version = json.loads(run_ok("register", "--json", cwd=root))
    assert version["hash"] == hash_bytes(b"trained before the pipeline existed")
