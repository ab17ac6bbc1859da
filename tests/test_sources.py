"""The built-in source readers beyond the shared contract (tests/conformance/test_sources.py): headers, retries, redirects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flowtide.data.sources import (
    FsspecReader,
    HttpReader,
    LocalReader,
    ReadRequest,
    expand_headers,
    kind_of,
    reader_for,
)
from flowtide.errors import SourceError
from flowtide.hashing import hash_bytes
from flowtide.store import Store


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://x/a.csv", "http"),
        ("HTTPS://x/a.csv", "http"),
        ("data/a.csv", "local"),
        ("/abs/a.csv", "local"),
        ("file:///abs/a.csv", "local"),
        ("s3://bucket/a.csv", "fsspec"),
        ("memory://a.csv", "fsspec"),
    ],
)
def test_kind_of(url, kind):
    assert kind_of(url) == kind
    assert (
        type(reader_for(url)).__name__ == {"http": "HttpReader", "local": "LocalReader", "fsspec": "FsspecReader"}[kind]
    )


def test_expand_headers_from_env():
    assert expand_headers(
        {"Authorization": "Bearer ${TOKEN}", "X": "${A}-${B}"}, {"TOKEN": "s3cr3t", "A": "1", "B": "2"}
    ) == {
        "Authorization": "Bearer s3cr3t",
        "X": "1-2",
    }


@pytest.mark.parametrize("env", [{}, {"API_TOKEN": ""}], ids=["unset", "empty"])
def test_an_unset_header_variable_names_itself_and_the_source(env):
    with pytest.raises(SourceError) as info:
        expand_headers({"X-Api-Key": "${API_TOKEN}"}, env, source="weather", url="https://data.example/w.csv")
    assert info.value.message == (
        "source 'weather' (https://data.example/w.csv): header X-Api-Key uses ${API_TOKEN}, "
        "which is not set (or empty) in the environment"
    )
    assert info.value.hint.startswith("Set API_TOKEN (in CI: pass the secret to the step's env)")


def test_pull_with_an_unset_header_variable_makes_no_request(tmp_path, http, monkeypatch):
    monkeypatch.delenv("FLOWTIDE_TEST_TOKEN", raising=False)
    project = tmp_path / "p"
    project.mkdir()
    (project / "flowtide.yaml").write_text(
        f"project: p\nsources:\n  d:\n    url: {http.url()}\n    path: d.csv\n"
        "    headers: {X-Api-Key: '${FLOWTIDE_TEST_TOKEN}'}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "flowtide", "pull"], cwd=project, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert "header X-Api-Key uses ${FLOWTIDE_TEST_TOKEN}, which is not set (or empty) in the environment" in (
        proc.stdout + proc.stderr
    )
    assert http.requests == []  # failed before any request, not after four retries
    assert not (project / "d.csv").exists()


class _Redirector:
    """A second real HTTP server (another port, so another origin) that redirects and records headers."""

    def __init__(self, target: str) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.seen: dict[str, dict[str, str]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.seen[self.path] = dict(self.headers)
                if self.path == "/here":
                    body = b"one\n"
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                location = {"/cross": target, "/same": "/here"}[self.path]
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def redirector(http):
    server = _Redirector(http.url())
    yield server
    server.stop()


def test_source_headers_do_not_follow_a_cross_origin_redirect(tmp_path, http, redirector):
    headers = {"X-Api-Key": "s3cr3t", "Authorization": "Bearer t0ken"}
    fetched = HttpReader().read(_request(tmp_path, f"{redirector.url}/cross", headers=headers))
    assert fetched.hash == hash_bytes(http.body)
    assert redirector.seen["/cross"]["X-Api-Key"] == "s3cr3t"  # the source's own origin gets them
    path, received, status = http.requests[-1]
    assert (path, status) == ("/data.csv", 200)
    assert "X-Api-Key" not in received and "Authorization" not in received
    assert not any("s3cr3t" in value or "t0ken" in value for value in received.values())


def test_source_headers_follow_a_same_origin_redirect(tmp_path, redirector):
    fetched = HttpReader().read(_request(tmp_path, f"{redirector.url}/same", headers={"X-Api-Key": "s3cr3t"}))
    assert fetched.hash == hash_bytes(b"one\n")
    assert redirector.seen["/here"]["X-Api-Key"] == "s3cr3t"


def test_a_refused_cross_origin_redirect_says_the_headers_were_not_sent(tmp_path, http, redirector):
    target = _Redirector(http.url("missing"))
    try:
        with pytest.raises(SourceError) as info:
            HttpReader().read(_request(tmp_path, f"{target.url}/cross", headers={"X-Api-Key": "s3cr3t"}))
    finally:
        target.stop()
    assert info.value.message.endswith("): HTTP 404 Not Found")
    assert info.value.hint.startswith(
        f"The request was redirected to http://127.0.0.1:{http.port}, another origin, which gets none of the "
        "source's headers (X-Api-Key)."
    )


def _request(tmp_path: Path, url: str, **kw) -> ReadRequest:
    return ReadRequest(name="src", url=url, store=Store(tmp_path / "store"), base_dir=tmp_path, retries=0, **kw)


def test_http_sends_configured_headers(tmp_path, http):
    HttpReader().read(_request(tmp_path, http.url(), headers={"Authorization": "Bearer t"}))
    assert http.requests[-1][1]["Authorization"] == "Bearer t"


def test_http_404_is_not_retried(tmp_path, http):
    with pytest.raises(SourceError) as info:
        HttpReader().read(ReadRequest("src", http.url("missing"), Store(tmp_path / "s"), tmp_path, retries=3))
    assert info.value.message == f"source 'src' ({http.url('missing')}): HTTP 404 Not Found"
    assert http.count("missing") == 1


def test_http_retries_5xx_then_gives_up(tmp_path, http):
    request = ReadRequest("src", http.url("error"), Store(tmp_path / "s"), tmp_path, retries=2, backoff=0.01)
    with pytest.raises(SourceError) as info:
        HttpReader().read(request)
    assert info.value.message.endswith("): HTTP 500 Internal Server Error after 3 attempts")
    assert http.statuses("error") == [500, 500, 500]


def test_http_truncated_body_leaves_no_blob(tmp_path, http):
    store = Store(tmp_path / "s")
    with pytest.raises(SourceError, match="truncated body"):
        HttpReader().read(ReadRequest("src", http.url("truncated"), store, tmp_path, retries=0))
    assert list(store.digests()) == []
    assert [p.name for p in store.tmp_dir.iterdir()] == [".gitignore"]  # no temp file left
    # nor the copy for the working tree it was making as the bytes arrived
    target = tmp_path / "data" / "raw.csv"
    with pytest.raises(SourceError, match="truncated body"):
        HttpReader().read(ReadRequest("src", http.url("truncated"), store, tmp_path, retries=1, copy_to=target))
    assert [p.name for p in store.tmp_dir.iterdir()] == [".gitignore"] and not target.parent.exists()


def test_local_missing_file(tmp_path):
    with pytest.raises(SourceError) as info:
        LocalReader().read(_request(tmp_path, "nope.csv"))
    assert info.value.message == f"source 'src' (nope.csv): file not found: {tmp_path / 'nope.csv'}"


def test_a_local_file_that_changes_while_it_is_read_is_read_again_and_no_stored_blob_is_lost(tmp_path, monkeypatch):
    """A change caught by the reader's own stat (after the store proved its read) retries; the blob the store
    already held (another source's bytes, say) stays, where it used to be deleted."""

    request = ReadRequest("src", "data.csv", Store(tmp_path / "store"), tmp_path, retries=2, backoff=0.01)
    store = request.store
    (tmp_path / "other.csv").write_bytes(b"a,b\n1,2\n")
    kept, _ = store.add_file(tmp_path / "other.csv")
    (tmp_path / "data.csv").write_bytes(b"a,b\n1,2\n")  # the same bytes as the stored blob
    real, calls = Store.add_file_copying, []

    def add_then_rewrite(self, path, *args, **kwargs):
        result = real(self, path, *args, **kwargs)
        calls.append(path)
        if len(calls) == 1:
            Path(path).write_bytes(b"a,b\n3,4\n")
        return result

    monkeypatch.setattr(Store, "add_file_copying", add_then_rewrite)
    result = LocalReader().read(request)
    assert len(calls) == 2 and result.hash == hash_bytes(b"a,b\n3,4\n")
    assert store.read_bytes(kept) == b"a,b\n1,2\n"

    from flowtide import store as store_module  # a change the store sees itself (SourceChanged): read again too

    real_hash, hashed = store_module.hash_file, []

    def hash_then_append(path):
        hashed.append(real_hash(path))
        if len(hashed) == 1:
            with open(path, "ab") as out:
                out.write(b"5,6\n")
        return hashed[-1]

    monkeypatch.setattr(store_module, "hash_file", hash_then_append)
    monkeypatch.setattr(Store, "add_file_copying", real)
    (tmp_path / "data.csv").write_bytes(b"a,b\n7,8\n")
    result = LocalReader().read(request)
    assert len(hashed) == 2 and result.hash == hash_bytes(b"a,b\n7,8\n5,6\n")
    assert store.read_bytes(result.hash) == b"a,b\n7,8\n5,6\n"
    assert hash_bytes(b"a,b\n7,8\n") not in set(store.digests())


def test_fsspec_missing_object(tmp_path):
    with pytest.raises(SourceError, match=r"\(memory://flowtide-test/absent.csv\): not found"):
        FsspecReader().read(_request(tmp_path, "memory://flowtide-test/absent.csv"))


def test_retry_after_header_parsing():
    from email.utils import formatdate

    from flowtide.data.sources import _retry_after

    assert _retry_after(None) is None and _retry_after("soon") is None
    assert _retry_after("2") == 2.0
    later = _retry_after(formatdate(__import__("time").time() + 60, usegmt=True))
    assert 50 < later <= 60
