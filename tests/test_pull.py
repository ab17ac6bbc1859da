from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from email.utils import formatdate
from pathlib import Path

import pytest

from flowtide.hashing import hash_bytes

from ._servers import refused_port
from .conftest import GIT_ENV, run_cli


def write_config(root: Path, url: str, **extra: object) -> None:
    lines = ["project: t", "sources:", "  weather:", f"    url: {url}", "    path: data/raw/weather.csv"]
    lines += [f"    {key}: {value}" for key, value in extra.items()]
    (root / "flowtide.yaml").write_text("\n".join(lines) + "\n")


def snapshot(root: Path) -> tuple[bytes | None, bytes | None]:
    def read(p: Path) -> bytes | None:
        return p.read_bytes() if p.exists() else None

    return read(root / "data/raw/weather.csv"), read(root / "flowtide.lock")


def lock_entry(root: Path) -> dict:
    return json.loads((root / "flowtide.lock").read_text())["sources"]["weather"]


def test_first_pull_writes_data_and_lock(git_repo, http):
    write_config(git_repo, http.url())
    result = run_cli("pull", cwd=git_repo)
    assert result.code == 0, result.err
    digest = hash_bytes(http.body)
    assert result.out.splitlines()[0].split() == ["weather", "changed", "8", "B", digest[:12], "data/raw/weather.csv"]
    assert (git_repo / "data/raw/weather.csv").read_bytes() == http.body
    assert lock_entry(git_repo) == {
        "url": http.url(),
        "path": "data/raw/weather.csv",
        "hash": digest,
        "size": len(http.body),
        "etag": http.etag,
        "last_modified": formatdate(http.modified, usegmt=True),
    }
    assert (git_repo / ".flowtide/cache" / digest[:2] / digest[2:]).read_bytes() == http.body


def test_unchanged_source_is_a_conditional_get_and_lock_stays_byte_identical(git_repo, http):
    write_config(git_repo, http.url())
    assert run_cli("pull", cwd=git_repo).code == 0
    before = (git_repo / "flowtide.lock").read_bytes()
    stat_before = (git_repo / "flowtide.lock").stat()
    second = run_cli("pull", cwd=git_repo)
    assert second.code == 0, second.err
    assert "unchanged" in second.out and "(not modified)" in second.out
    assert "flowtide.lock updated" not in second.out
    path, headers, status = http.requests[-1]
    assert (path, status) == ("/data.csv", 304)
    assert headers["If-None-Match"] == http.etag
    assert (git_repo / "flowtide.lock").read_bytes() == before
    assert (git_repo / "flowtide.lock").stat().st_mtime_ns == stat_before.st_mtime_ns


def test_last_modified_alone_gives_a_conditional_get(git_repo, http):
    http.use_etag = False
    write_config(git_repo, http.url())
    assert run_cli("pull", cwd=git_repo).code == 0
    assert "etag" not in lock_entry(git_repo)
    assert run_cli("pull", cwd=git_repo).code == 0
    _, headers, status = http.requests[-1]
    assert status == 304 and "If-Modified-Since" in headers and "If-None-Match" not in headers


def test_changed_bytes_change_the_lock(git_repo, http):
    write_config(git_repo, http.url())
    assert run_cli("pull", cwd=git_repo).code == 0
    old = lock_entry(git_repo)["hash"]
    http.set_body(b"a,b\n1,2\n3,4\n")
    result = run_cli("pull", cwd=git_repo)
    assert result.code == 0
    assert "changed" in result.out and f"(was {old[:12]})" in result.out and "flowtide.lock updated" in result.out
    assert lock_entry(git_repo)["hash"] == hash_bytes(b"a,b\n1,2\n3,4\n")
    assert (git_repo / "data/raw/weather.csv").read_bytes() == b"a,b\n1,2\n3,4\n"


def test_same_bytes_under_a_new_etag_leave_the_lock_alone(git_repo, http):
    write_config(git_repo, http.url())
    assert run_cli("pull", cwd=git_repo).code == 0
    before = (git_repo / "flowtide.lock").read_bytes()
    (git_repo / ".flowtide/sources.json").unlink()  # a fresh clone has no validators
    result = run_cli("pull", cwd=git_repo)
    assert result.code == 0 and "(same bytes)" in result.out
    assert http.statuses("data.csv")[-1] == 200
    assert (git_repo / "flowtide.lock").read_bytes() == before


def test_deleted_data_file_of_an_unchanged_source_is_restored(git_repo, http):
    write_config(git_repo, http.url())
    assert run_cli("pull", cwd=git_repo).code == 0
    (git_repo / "data/raw/weather.csv").unlink()
    assert run_cli("pull", cwd=git_repo).code == 0
    assert (git_repo / "data/raw/weather.csv").read_bytes() == http.body


FAULTS = [
    ("missing", {}, "HTTP 404 Not Found"),
    ("error", {"retries": 1}, "HTTP 500 Internal Server Error after 2 attempts"),
    ("slow", {"retries": 0, "timeout": 0.5}, "timed out (no data for 0.5 s)"),
    (
        "truncated",
        {"retries": 0},
        "truncated body: peer closed connection without sending complete message body (received 8 bytes, expected 1008)",
    ),
]


@pytest.mark.parametrize(("route", "extra", "reason"), FAULTS, ids=[f[0] for f in FAULTS])
def test_a_fault_leaves_data_and_lock_untouched(git_repo, http, route, extra, reason):
    write_config(git_repo, http.url())
    assert run_cli("pull", cwd=git_repo).code == 0
    before = snapshot(git_repo)
    http.set_body(b"a,b\n5,6\n")  # the fault must not let these bytes in either
    write_config(git_repo, http.url(route), **extra)
    result = run_cli("pull", cwd=git_repo)
    assert result.code == 1
    assert f"error: source 'weather' ({http.url(route)}): {reason}" in result.err
    assert "weather          failed" in result.out
    assert snapshot(git_repo) == before
    assert not list((git_repo / ".flowtide/cache/tmp").glob("*.part"))
    # the fault is gone: a re-run succeeds
    write_config(git_repo, http.url())
    again = run_cli("pull", cwd=git_repo)
    assert again.code == 0, again.err
    assert (git_repo / "data/raw/weather.csv").read_bytes() == b"a,b\n5,6\n"


def test_connection_refused_names_source_and_url(git_repo, http):
    write_config(git_repo, http.url())
    assert run_cli("pull", cwd=git_repo).code == 0
    before = snapshot(git_repo)
    url = f"http://127.0.0.1:{refused_port()}/data.csv"
    write_config(git_repo, url, retries=0)
    result = run_cli("pull", cwd=git_repo)
    assert result.code == 1
    assert f"error: source 'weather' ({url}): could not connect: connection refused\n" in result.err
    assert snapshot(git_repo) == before


def test_5xx_is_retried_with_backoff(git_repo, http):
    http.flaky_failures = 1
    write_config(git_repo, http.url("flaky"), retries=2)
    result = run_cli("pull", cwd=git_repo)
    assert result.code == 0, result.err
    assert http.statuses("flaky") == [500, 200]


def test_kill_9_mid_download_leaves_data_and_lock_untouched(git_repo, http):
    write_config(git_repo, http.url())
    assert run_cli("pull", cwd=git_repo).code == 0
    before = snapshot(git_repo)
    http.set_body(b"x" * 64 * 100)
    http.trickle_delay = 0.1  # ten seconds for the whole body
    write_config(git_repo, http.url("trickle"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowtide", "pull", "--no-progress"],
        cwd=git_repo,
        env={**os.environ, **GIT_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        parts = git_repo / ".flowtide/cache/tmp"
        # wait until the body is streaming into the store's temp file
        while time.monotonic() < deadline:
            if http.count("trickle") and list(parts.glob("*.part")):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the download never started")
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(git_repo) == before
    http.trickle_delay = 0
    again = run_cli("pull", cwd=git_repo)
    assert again.code == 0, again.err
    assert (git_repo / "data/raw/weather.csv").read_bytes() == http.body
    assert lock_entry(git_repo)["hash"] == hash_bytes(http.body)


@pytest.mark.parametrize("path", ["../x.csv", "/tmp/x.csv"])
def test_a_path_escaping_the_repo_is_refused_by_the_config(git_repo, http, path):
    (git_repo / "flowtide.yaml").write_text(
        f"project: t\nsources:\n  weather:\n    url: {http.url()}\n    path: {path}\n"
    )
    result = run_cli("pull", cwd=git_repo)
    assert result.code == 2
    assert result.err.startswith(f"error: flowtide.yaml:5:5: source path '{path}' ")
    assert http.requests == []


def test_a_symlink_out_of_the_repo_is_refused(git_repo, http, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (git_repo / "data").symlink_to(outside)
    write_config(git_repo, http.url())
    result = run_cli("pull", cwd=git_repo)
    assert result.code == 2
    assert (
        f"error: source 'weather' path 'data/raw/weather.csv' resolves to {outside.resolve()}/raw/weather.csv, "
        f"outside the project {git_repo.resolve()}" in result.err
    )
    assert list(outside.iterdir()) == []
    assert not (git_repo / "flowtide.lock").exists()


def test_a_typo_in_the_config_exits_2_naming_the_line(git_repo, http):
    write_config(git_repo, http.url(), schedul='"0 6 * * *"')
    result = run_cli("pull", cwd=git_repo)
    assert result.code == 2
    assert result.err.startswith(
        "error: flowtide.yaml:6:5: unknown key 'schedul' in sources.weather\nDid you mean 'schedule'?"
    )


def test_unknown_source_name_is_a_usage_error(git_repo, http):
    write_config(git_repo, http.url())
    result = run_cli("pull", "wether", cwd=git_repo)
    assert result.code == 2
    assert "error: unknown source 'wether' (configured sources: weather)" in result.err


def test_json_output(git_repo, http):
    write_config(git_repo, http.url())
    result = run_cli("pull", "--json", cwd=git_repo)
    data = json.loads(result.out)
    assert data["ok"] and data["changed"] and data["lock_written"]
    (entry,) = data["sources"]
    assert entry["name"] == "weather" and entry["status"] == "changed" and entry["hash"] == hash_bytes(http.body)


def test_storage_store_keeps_the_file_out_of_git(git_repo, http):
    write_config(git_repo, http.url(), storage="store")
    (git_repo / ".gitignore").write_text("*.pyc")
    assert run_cli("pull", cwd=git_repo).code == 0
    assert run_cli("pull", cwd=git_repo).code == 0
    text = (git_repo / ".gitignore").read_text()
    assert text.startswith("*.pyc\n") and text.count("/data/raw/weather.csv\n") == 1
    assert (git_repo / "data/raw/weather.csv").read_bytes() == http.body


def test_local_path_source(git_repo):
    incoming = git_repo / "incoming.csv"
    incoming.write_bytes(b"x\n1\n")
    (git_repo / "flowtide.yaml").write_text(
        "project: t\nsources:\n  local:\n    url: incoming.csv\n    path: data/local.csv\n"
    )
    first = run_cli("pull", cwd=git_repo)
    assert first.code == 0 and "changed" in first.out
    assert (git_repo / "data/local.csv").read_bytes() == b"x\n1\n"
    before = (git_repo / "flowtide.lock").read_bytes()
    assert "(not modified)" in run_cli("pull", cwd=git_repo).out
    assert (git_repo / "flowtide.lock").read_bytes() == before
    assert "etag" not in json.loads(before)["sources"]["local"]
    incoming.write_bytes(b"x\n1\n2\n")
    assert "changed" in run_cli("pull", cwd=git_repo).out
    assert (git_repo / "data/local.csv").read_bytes() == b"x\n1\n2\n"
    incoming.unlink()
    gone = run_cli("pull", cwd=git_repo)
    assert gone.code == 1
    assert f"error: source 'local' (incoming.csv): file not found: {git_repo / 'incoming.csv'}" in gone.err


def _checks_available() -> bool:
    try:
        from flowtide.checks import check_file  # noqa: F401
    except ImportError:
        return False
    return True


def _pulled_with_a_check(git_repo: Path, http) -> tuple[bytes | None, bytes | None]:
    """A first pull of a source whose column `a` must be an int ≤ 10; the data file and lock it left."""
    write_config(git_repo, http.url())
    with open(git_repo / "flowtide.yaml", "a") as handle:
        handle.write("checks:\n  weather:\n    columns:\n      a: {type: int, max: 10}\n")
    assert run_cli("pull", cwd=git_repo).code == 0
    return snapshot(git_repo)


@pytest.mark.skipif(not _checks_available(), reason="flowtide.checks (check_file) has not landed yet")
def test_failing_checks_quarantine_new_bytes(git_repo, http):
    before = _pulled_with_a_check(git_repo, http)
    bad = b"a,b\n1,2\n99,4\n"
    http.set_body(bad)
    result = run_cli("pull", cwd=git_repo)
    assert result.code == 1
    assert "weather          quarantined" in result.out
    assert f"error: source 'weather' ({http.url()}): checks failed; new data quarantined" in result.err
    assert snapshot(git_repo) == before
    digest = hash_bytes(bad)
    record = json.loads((git_repo / f".flowtide/quarantine/weather-{digest[:16]}.json").read_text())
    assert record["hash"] == digest and record["report"]["ok"] is False
    assert (git_repo / ".flowtide/cache" / digest[:2] / digest[2:]).read_bytes() == bad
    # --no-check accepts them
    assert run_cli("pull", "--no-check", cwd=git_repo).code == 0
    assert lock_entry(git_repo)["hash"] == digest


def test_progress_of_a_large_download_goes_to_the_callback(git_repo, http):
    from flowtide.data.pull import pull
    from flowtide.project import Project

    http.set_body(b"0123456789abcdef" * (5 << 16))  # 5 MiB
    write_config(git_repo, http.url())
    calls = []
    result = pull(Project.load(git_repo), on_progress=lambda done, total, label: calls.append((done, total, label)))
    assert [r.status for r in result.results] == ["changed"]
    assert (git_repo / "data/raw/weather.csv").stat().st_size == 5 << 20
    assert calls[-1] == (5 << 20, 5 << 20, "pull weather")
    assert [done for done, _, _ in calls] == sorted({done for done, _, _ in calls})  # growing, never repeated
    assert len(calls) == 5  # one call per 1 MiB chunk


def test_progress_bar_on_a_large_download_from_the_cli(git_repo, http):
    http.set_body(b"0123456789abcdef" * (5 << 16))  # 5 MiB: above the CLI's bar threshold
    write_config(git_repo, http.url())
    result = run_cli("pull", "--progress", cwd=git_repo)
    assert result.code == 0, result.err
    assert (git_repo / "data/raw/weather.csv").stat().st_size == 5 << 20


def test_json_output_of_a_failure(git_repo, http):
    write_config(git_repo, http.url("missing"))
    result = run_cli("pull", "--json", cwd=git_repo)
    assert result.code == 1
    (entry,) = json.loads(result.out)["sources"]
    assert entry["status"] == "failed"
    assert entry["message"] == f"source 'weather' ({http.url('missing')}): HTTP 404 Not Found"
    assert not (git_repo / "flowtide.lock").exists() and not (git_repo / "data").exists()


def test_weather_datasource_month_by_month(git_repo):
    import httpx

    from flowtide.examples.datasource import DataSource

    with DataSource(as_of="2012-03") as source:
        state = httpx.get(f"http://127.0.0.1:{source.port}/state").json()
        assert (state["as_of"], state["rows"], state["first_month"], state["last_month"]) == (
            "2012-03",
            91,
            "2012-01",
            "2015-12",
        )
        write_config(git_repo, source.url, check="false")
        assert run_cli("pull", cwd=git_repo).code == 0
        lines = (git_repo / "data/raw/weather.csv").read_text().splitlines()
        assert lines[0] == "date,precipitation,temp_max,temp_min,wind,weather"
        assert (lines[1][:10], lines[-1][:10], len(lines)) == ("2012-01-01", "2012-03-31", 92)
        assert "(not modified)" in run_cli("pull", cwd=git_repo).out
        assert source.requests[-1] == ("GET", "/seattle-weather.csv", 304)
        # If-Modified-Since alone is honoured too
        modified = httpx.get(source.url).headers["last-modified"]
        assert httpx.get(source.url, headers={"If-Modified-Since": modified}).status_code == 304
        assert httpx.post(f"http://127.0.0.1:{source.port}/advance").json()["as_of"] == "2012-04"
        assert "changed" in run_cli("pull", cwd=git_repo).out
        assert len((git_repo / "data/raw/weather.csv").read_text().splitlines()) == 92 + 30
        assert httpx.post(f"http://127.0.0.1:{source.port}/as-of?month=2015-12").json()["rows"] == 1461
        assert httpx.post(f"http://127.0.0.1:{source.port}/as-of?month=bad").status_code == 400
        assert httpx.get(f"http://127.0.0.1:{source.port}/other.csv").status_code == 404


def test_datasource_command_prints_its_url(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowtide.examples.datasource", "--port", "0", "--as-of", "2013-01"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("serving http://127.0.0.1:") and line.endswith("/seattle-weather.csv as of 2013-01")
        import httpx

        body = httpx.get(line.split()[1]).text
        assert body.splitlines()[-1].startswith("2013-01-31,")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_a_killed_write_leaves_no_litter_in_the_data_directory(git_repo, http):
    write_config(git_repo, http.url())
    assert run_cli("pull", cwd=git_repo).code == 0
    litter = git_repo / "data/raw/.weather.csv.abc123.tmp"  # what atomic_writer leaves when killed mid-copy
    litter.write_bytes(b"half")
    os.utime(litter, (time.time() - 3600, time.time() - 3600))
    fresh = git_repo / "data/raw/.weather.csv.def456.tmp"  # maybe another process's write in flight
    fresh.write_bytes(b"busy")
    assert run_cli("pull", cwd=git_repo).code == 0
    assert not litter.exists() and fresh.exists()


def test_concurrent_stage_entry_survives_a_pull(git_repo, http):
    """pull changes only `sources` of a fresh lock: a stage entry written mid-download is kept."""
    import threading

    from flowtide.project import Project

    http.set_body(b"a,b\n" + b"1,2\n" * 100)  # 404 bytes: 7 chunks of 64 bytes...
    http.trickle_delay = 0.2  # ...at 0.2 s each: the download is still streaming when run writes
    write_config(git_repo, http.url("trickle"))
    outcome: dict = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("result", run_cli("pull", cwd=git_repo)))
    thread.start()
    deadline = time.monotonic() + 10
    while http.count("trickle") == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    # what `flowtide run` does when a stage finishes while the download is still streaming
    Project.load(git_repo).update_lock(lambda lock: lock.stages.__setitem__("train", {"fingerprint": "f"}))
    thread.join(30)
    assert outcome["result"].code == 0, outcome["result"].err
    lock = json.loads((git_repo / "flowtide.lock").read_text())
    assert lock["stages"] == {"train": {"fingerprint": "f"}}
    assert lock["sources"]["weather"]["size"] == 404


def _store_litter(root: Path) -> list[str]:
    """Temp files left in the store's temp directory or beside the data file (a pull must leave none)."""
    tmp = root / ".flowtide/cache/tmp"
    left = [p.name for p in tmp.rglob("*") if p.is_file() and p.name != ".gitignore"] if tmp.exists() else []
    return left + [p.name for p in (root / "data/raw").glob(".*.tmp")]


def test_a_large_download_is_copied_into_the_working_tree_while_it_arrives(git_repo, http, monkeypatch):
    """The working-tree copy runs beside the download (a helper copies every 16 MiB that arrived), instead of a
    second full copy from the store afterwards: the file is whole, 0644, and nothing is left behind."""
    from flowtide import atomic
    from flowtide.data.pull import pull
    from flowtide.project import Project
    from flowtide.store import Store

    body = b"".join(i.to_bytes(4, "little") + os.urandom(1020) for i in range(40 << 10))  # 40 MiB
    http.set_body(body)
    write_config(git_repo, http.url())
    grown, real_grew = [], atomic.GrowingCopy.grew

    def grew(self, end, *, final=False):
        grown.append((end, final))
        return real_grew(self, end, final=final)

    def no_second_copy(*args, **kwargs):
        raise AssertionError("the blob was copied again after the download")

    monkeypatch.setattr(atomic.GrowingCopy, "grew", grew)
    monkeypatch.setattr(Store, "materialize", no_second_copy)
    result = pull(Project.load(git_repo))
    assert [(r.status, r.message) for r in result.results] == [("changed", "first pull")]
    data = git_repo / "data/raw/weather.csv"
    assert data.read_bytes() == body and data.stat().st_mode & 0o777 == 0o644
    assert len([end for end, final in grown if not final and end < len(body)]) >= 2  # copied while arriving
    assert grown[-1] == (len(body), True)
    assert _store_litter(git_repo) == []


def test_a_copy_made_while_downloading_is_dropped_when_the_bytes_are_not_taken(git_repo, http):
    before = _pulled_with_a_check(git_repo, http)
    (git_repo / ".flowtide/sources.json").unlink()  # no validators: the same bytes come again with a 200
    result = run_cli("pull", cwd=git_repo)
    assert result.code == 0 and "(same bytes)" in result.out and http.statuses("data.csv")[-1] == 200
    assert snapshot(git_repo) == before and _store_litter(git_repo) == []
    http.set_body(b"a,b\n1,2\n99,4\n")  # refused by the checks: quarantined, the working tree untouched
    result = run_cli("pull", cwd=git_repo)
    assert result.code == 1 and "quarantined" in result.out
    assert snapshot(git_repo) == before and _store_litter(git_repo) == []
    http.set_body(b"a,b\n1,2\n3,4\n")
    assert run_cli("pull", cwd=git_repo).code == 0
    assert (git_repo / "data/raw/weather.csv").read_bytes() == b"a,b\n1,2\n3,4\n" and _store_litter(git_repo) == []


def _local_litter(root: Path) -> list[str]:
    tmp = root / ".flowtide/cache/tmp"
    left = [p.name for p in tmp.rglob("*") if p.is_file() and p.name != ".gitignore"] if tmp.exists() else []
    return left + [p.name for p in (root / "data").glob(".*.tmp")]


def test_a_local_file_is_copied_into_the_working_tree_beside_the_store_copy(git_repo, monkeypatch):
    """New bytes from a local path: the working-tree copy is made while the store's copy is written (no second
    copy from the store afterwards); bytes the store already holds start no copy; a failing copy still stores
    the blob and the working tree gets its copy from the store."""
    from flowtide import atomic
    from flowtide.project import Project
    from flowtide.store import Store

    incoming = git_repo / "incoming.bin"
    body = os.urandom(3 << 20)
    incoming.write_bytes(body)
    (git_repo / "flowtide.yaml").write_text(
        "project: t\nsources:\n  local:\n    url: incoming.bin\n    path: data/local.bin\n"
    )
    started, real_init = [], atomic.GrowingCopy.__init__

    def init(self, source, dest, tmp_dir, **kwargs):
        started.append((Path(source), Path(dest)))
        return real_init(self, source, dest, tmp_dir, **kwargs)

    def no_second_copy(*args, **kwargs):
        raise AssertionError("the blob was copied again after it was stored")

    monkeypatch.setattr(atomic.GrowingCopy, "__init__", init)
    with monkeypatch.context() as forbid:
        forbid.setattr(Store, "materialize", no_second_copy)
        first = run_cli("pull", cwd=git_repo)
    assert first.code == 0 and " changed " in first.out, first.err
    data = git_repo / "data/local.bin"
    assert data.read_bytes() == body and data.stat().st_mode & 0o777 == 0o644
    assert started == [(incoming, data)] and _local_litter(git_repo) == []

    os.utime(incoming, ns=(time.time_ns(), time.time_ns() - 5_000_000_000))  # same bytes, new stat
    assert "(same bytes)" in run_cli("pull", cwd=git_repo).out
    assert len(started) == 1 and data.read_bytes() == body  # the store had the bytes: nothing copied

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    changed = os.urandom(3 << 20)
    incoming.write_bytes(changed)
    monkeypatch.setattr(os, "copy_file_range", full)  # the helper's copy (and the store's kernel copy) fail
    again = run_cli("pull", cwd=git_repo)
    assert again.code == 0 and " changed " in again.out, again.err
    assert len(started) == 2 and data.read_bytes() == changed  # copied from the store instead
    stored = json.loads((git_repo / "flowtide.lock").read_text())["sources"]["local"]["hash"]
    assert stored == hash_bytes(changed) and Project.load(git_repo).store.has(stored)
    assert _local_litter(git_repo) == []


def test_a_large_download_is_written_once_through_the_page_cache_and_the_blob_follows_it_past(
    git_repo, http, monkeypatch
):
    """Over HTTP with a Content-Length of DIRECT_MIN or more: the bytes go into the working tree's copy and the
    blob is written from it with O_DIRECT while they arrive; the blob is still proven and the tree gets its copy."""
    import fcntl

    from flowtide import atomic
    from flowtide import store as store_module

    monkeypatch.setattr(store_module, "DIRECT_MIN", 1 << 20)
    monkeypatch.setattr(store_module, "WRITEBACK_STEP", 256 << 10)
    body = os.urandom((3 << 20) + 77)
    http.set_body(body)
    write_config(git_repo, http.url())
    followers, real_init = [], atomic.DirectFollow.__init__

    def init(self, *args, **kwargs):
        followers.append(self)
        real_init(self, *args, **kwargs)

    direct_writes: list[int] = []
    real_pwrite = os.pwrite

    def pwrite(fd, data, offset):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            direct_writes.append(len(data))
        return real_pwrite(fd, data, offset)

    def no_second_copy(*args, **kwargs):
        raise AssertionError("the blob was copied again after it was stored")

    monkeypatch.setattr(atomic.DirectFollow, "__init__", init)
    monkeypatch.setattr(os, "pwrite", pwrite)
    monkeypatch.setattr(store_module.Store, "materialize", no_second_copy)
    result = run_cli("pull", cwd=git_repo)
    assert result.code == 0, result.err
    digest = hash_bytes(body)
    assert (git_repo / "data/raw/weather.csv").read_bytes() == body
    assert (git_repo / ".flowtide/cache" / digest[:2] / digest[2:]).read_bytes() == body
    assert len(followers) == 1 and followers[0].written == len(body)
    assert len(direct_writes) >= 12 and sum(direct_writes) == len(body) - 77  # whole blocks past the cache
    assert digest in store_module.Store(git_repo / ".flowtide/cache")._records()  # hashed on the way in
    assert _local_litter(git_repo) == []


def test_a_large_download_whose_direct_write_fails_still_stores_the_blob(git_repo, http, monkeypatch):
    import errno
    import fcntl

    from flowtide import store as store_module

    monkeypatch.setattr(store_module, "DIRECT_MIN", 1 << 20)
    body = os.urandom(2 << 20)
    http.set_body(body)
    write_config(git_repo, http.url())
    real_pwrite = os.pwrite

    def pwrite(fd, data, offset):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    result = run_cli("pull", cwd=git_repo)
    assert result.code == 0, result.err
    digest = hash_bytes(body)
    assert (git_repo / "data/raw/weather.csv").read_bytes() == body
    assert (git_repo / ".flowtide/cache" / digest[:2] / digest[2:]).read_bytes() == body
    assert _local_litter(git_repo) == []

    monkeypatch.setattr(os, "pwrite", real_pwrite)  # a body cut short (Content-Length says more): nothing is kept
    http.set_body(os.urandom(2 << 20))
    write_config(git_repo, http.url("truncated"))
    failed = run_cli("pull", cwd=git_repo)
    assert failed.code != 0 and "truncated body" in failed.out + failed.err
    assert (git_repo / "data/raw/weather.csv").read_bytes() == body and _local_litter(git_repo) == []
    assert set(store_module.Store(git_repo / ".flowtide/cache").digests()) == {digest}
