"""The repository lock and leftovers: gc never races a pull, killed commands leave nothing behind.

pull, run, push, fetch and register hold the repository lock shared; gc holds
it alone. Temp files carry their owner (machine, pid, start time): the next
command removes those of dead processes, never a live one's, and none of them
is ever visible to git. Pulls are real processes against the fault-injecting
HTTP server of tests/_servers.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flowtide.errors import FlowtideError
from flowtide.project import Project
from flowtide.transfer import gc

from .conftest import GIT_ENV, git, kill_when_writing, run_cli
from .test_pull import lock_entry

TEMP_SUFFIXES = (".part", ".tmp")


def write_config(root: Path, url: str, *, checks: bool = False, remote: Path | None = None) -> None:
    text = f"project: t\nsources:\n  weather:\n    url: {url}\n    path: data/raw/weather.csv\n"
    if checks:  # the checks run between the blob entering the store and the lock naming it
        text += "checks:\n  weather:\n    rows: {min: 1}\n"
    if remote is not None:
        text += f"store: {{remote: {remote}, auto_push: false}}\n"
    (root / "flowtide.yaml").write_text(text)


def start_pull(root: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flowtide", "pull", "--no-progress"],
        cwd=root,
        env={**os.environ, **GIT_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def partials(root: Path) -> list[Path]:
    tmp = root / ".flowtide/cache/tmp"
    return [p for p in tmp.glob("*.part")] if tmp.is_dir() else []


def wait_for_partial(proc: subprocess.Popen, root: Path) -> Path:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        found = partials(root)
        if found:
            return found[0]
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"the download never started: {proc.communicate()[0]}")


def temp_files(root: Path) -> list[str]:
    """Every temp file anywhere in the project (the private dirs' own .gitignore aside)."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.suffix in TEMP_SUFFIXES and ".git/" not in p.as_posix()
    )


def git_visible_temps(root: Path) -> list[str]:
    lines = git("status", "--porcelain", "--untracked-files=all", cwd=root).splitlines()
    return [line for line in lines if line.endswith(TEMP_SUFFIXES)]


# --- gc against pull ---------------------------------------------------------------


def test_gc_during_a_pull_never_deletes_the_blob_the_new_lock_names(git_repo, http):
    write_config(git_repo, http.url("trickle"), checks=True)
    http.trickle_delay = 0.01
    failures = []
    for trial in range(5):
        http.set_body(b"a,b\n" + f"{trial},x\n".encode() * 60)  # new bytes: a new blob every trial
        pull = start_pull(git_repo)
        collections = 0
        while pull.poll() is None:  # collect garbage as fast as it can while the pull runs
            gc(Project.load(git_repo))
            collections += 1
        out = pull.communicate()[0]
        digest = lock_entry(git_repo)["hash"] if (git_repo / "flowtide.lock").exists() else None
        if pull.returncode != 0 or digest is None or not Project.load(git_repo).store.has(digest):
            failures.append((trial, pull.returncode, out.strip()[-200:]))
        assert collections > 0
    assert failures == []
    assert (git_repo / "data/raw/weather.csv").read_bytes() == http.body


# --- leftovers of killed commands ---------------------------------------------------


def kill_a_pull_mid_download(root: Path, http) -> Path:
    """First pull completes; the second (new, trickled bytes) is killed while its blob streams in."""
    assert run_cli("pull", cwd=root).code == 0
    http.set_body(b"a,b\n" + b"1,2\n" * 400)
    http.trickle_delay = 0.1  # 2.5 s for the whole body
    write_config(root, http.url("trickle"), remote=root.parent / "remote")
    pull = start_pull(root)
    partial = wait_for_partial(pull, root)
    assert git_visible_temps(root) == []  # while it downloads
    pull.send_signal(signal.SIGKILL)
    pull.communicate()
    assert partial.exists()  # what the killed pull left
    assert git_visible_temps(root) == []
    return partial


@pytest.mark.parametrize("command", [["pull"], ["run"], ["gc"], ["push"], ["fetch"]])
def test_the_next_command_removes_what_a_killed_pull_left(git_repo, http, command):
    write_config(git_repo, http.url(), remote=git_repo.parent / "remote")
    kill_a_pull_mid_download(git_repo, http)
    http.trickle_delay = 0
    result = run_cli(*command, cwd=git_repo)
    assert result.code == 0, result.err
    assert temp_files(git_repo) == []
    assert git_visible_temps(git_repo) == []


def test_a_live_pulls_partial_download_is_never_removed(git_repo, http):
    write_config(git_repo, http.url())
    assert run_cli("pull", cwd=git_repo).code == 0
    http.set_body(b"a,b\n" + b"3,4\n" * 200)
    http.trickle_delay = 0.02
    write_config(git_repo, http.url("trickle"))
    pull = start_pull(git_repo)
    partial = wait_for_partial(pull, git_repo)
    assert Project.load(git_repo).remove_leftovers() == 0  # what every other command does first
    assert run_cli("gc", "--dry-run", cwd=git_repo).code == 0
    assert partial.exists()
    out = pull.communicate(timeout=60)[0]
    assert pull.returncode == 0, out
    assert (git_repo / "data/raw/weather.csv").read_bytes() == http.body


_KILLED_AT = {
    # the working-tree copy made while the bytes arrive is whole and about to be renamed into place
    "copy made while downloading": """
        def place_later(self):
            print("writing", flush=True)
            time.sleep(60)

        flowtide.atomic.GrowingCopy.place = place_later
        """,
    # no copy while downloading (another filesystem, say): the copy from the store stops half-way
    "copy from the store": """
        def copy_half(source, out):
            out.write(source.read(1000))
            out.flush()
            print("writing", flush=True)
            time.sleep(60)

        def elsewhere(self, *args, **kwargs):
            raise OSError("the working tree is on another filesystem than the store")

        flowtide.atomic.GrowingCopy.__init__ = elsewhere
        flowtide.atomic.copy_fileobj = copy_half
        """,
}


@pytest.mark.parametrize("killed_at", sorted(_KILLED_AT))
def test_a_write_killed_mid_copy_leaves_nothing_git_can_see(git_repo, http, killed_at):
    """pull writes data files through a temp file out of git's sight; the next command removes it."""
    write_config(git_repo, http.url())
    git("add", "flowtide.yaml", cwd=git_repo)
    git("commit", "-q", "-m", "config", cwd=git_repo)
    assert run_cli("pull", cwd=git_repo).code == 0
    http.set_body(b"a,b\n" + b"5,6\n" * 5000)
    script = (
        "import time\nimport flowtide.atomic\nfrom flowtide.project import Project\n"
        "from flowtide.data.pull import pull\n"
        + textwrap.dedent(_KILLED_AT[killed_at])
        + f"pull(Project.load({str(git_repo)!r}))\n"
    )
    kill_when_writing(script)
    assert git_visible_temps(git_repo) == []
    assert [p for p in temp_files(git_repo) if p.startswith("data/")] == []
    assert temp_files(git_repo) != []  # the half copy is there, in a private directory
    assert run_cli("pull", cwd=git_repo).code == 0
    assert temp_files(git_repo) == []
    assert (git_repo / "data/raw/weather.csv").read_bytes() == http.body


def test_leftovers_are_judged_by_their_owners_life(tmp_path):
    """A temp file is removed once its writer is gone, at once; a live writer's file stays."""
    from flowtide.atomic import remove_leftovers

    script = textwrap.dedent(
        f"""
        import os, sys, time
        from flowtide.atomic import temp_file
        fd, path = temp_file({str(tmp_path)!r}, "blob", ".part")
        print(path, flush=True)
        if sys.argv[1] == "live":
            time.sleep(60)
        os._exit(0)  # killed: no cleanup ran
        """
    )
    dead = subprocess.run([sys.executable, "-c", script, "dead"], capture_output=True, text=True, check=True)
    live = subprocess.Popen([sys.executable, "-c", script, "live"], stdout=subprocess.PIPE, text=True)
    try:
        live_path = Path(live.stdout.readline().strip())
        dead_path = Path(dead.stdout.strip())
        legacy = tmp_path / "fetch.abc123.part"  # written by an older flowtide: no owner in the name
        legacy.write_bytes(b"x")
        assert remove_leftovers(tmp_path) == 1
        assert not dead_path.exists() and live_path.exists() and legacy.exists()
        os.utime(legacy, (time.time() - 7200, time.time() - 7200))
        assert remove_leftovers(tmp_path) == 1 and not legacy.exists()
    finally:
        live.kill()
        live.wait()
        live.stdout.close()
    assert remove_leftovers(tmp_path) == 1 and not live_path.exists()


# --- who waits for whom, and what they are told ----------------------------------


def test_gc_waits_for_a_sharer_and_names_it(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "flowtide.yaml").write_text("project: p\n")
    project = Project.load(root)
    with project.repository("pull"), project.repository("push", timeout=0):  # sharers run side by side
        busy = run_cli("gc", "--wait", "0", cwd=root)
        dry = run_cli("gc", "--dry-run", cwd=root)  # deletes nothing: needs no exclusive hold
    assert busy.code == 1
    assert busy.err == (
        f"error: repository is busy: another flowtide command holds the repository lock (pid {os.getpid()}, "
        "flowtide pull)\n"
        "gc needs the store to itself: try again when it has finished (or give gc a longer --wait SECONDS).\n"
    )
    assert dry.code == 0, dry.err
    assert run_cli("gc", "--wait", "0", cwd=root).code == 0


def test_sharers_wait_for_gc_and_name_it(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "flowtide.yaml").write_text("project: p\n")
    project = Project.load(root)
    with (
        project.repository("gc", exclusive=True),
        pytest.raises(FlowtideError) as info,
        project.repository("fetch", timeout=0.2),
    ):
        pass
    assert str(info.value) == (
        f"repository is busy: another flowtide command holds the repository lock (pid {os.getpid()}, flowtide gc)\n"
        "a `flowtide gc` is deleting unreferenced blobs: try again when it has finished."
    )


def test_a_killed_sharer_is_not_named(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "flowtide.yaml").write_text("project: p\n")
    script = textwrap.dedent(
        f"""
        import time
        from flowtide.project import Project
        with Project.load({str(root)!r}).repository("run"):
            print("writing", flush=True)
            time.sleep(60)
        """
    )
    kill_when_writing(script)  # (killed while holding the lock: its record stays behind)
    project = Project.load(root)
    assert len(list((root / ".flowtide/repository.holders").iterdir())) == 1
    with project.repository("fetch"):
        busy = run_cli("gc", "--wait", "0", cwd=root)
    assert f"(pid {os.getpid()}, flowtide fetch)" in busy.err
    assert list((root / ".flowtide/repository.holders").iterdir()) == []
