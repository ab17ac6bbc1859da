"""The source-reader contract, run by every reader registered in ``flowtide.sources`` and by an installed plugin.

A reader puts the URL's bytes in the store and hands back a validator; given
that validator again it says not modified; after the bytes change it reads them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from flowtide import plugins
from flowtide.data.sources import ReadRequest, reader_for
from flowtide.hashing import hash_bytes
from flowtide.store import Store

from .conftest import implementations


def _request(tmp_path: Path, url: str, **kw) -> ReadRequest:
    return ReadRequest(name="src", url=url, store=Store(tmp_path / "store"), base_dir=tmp_path, retries=0, **kw)


def _http_case(tmp_path, http):
    http.set_body(b"one\n")
    return http.url(), lambda: http.set_body(b"two\n"), b"one\n", b"two\n"


def _https_case(tmp_path, http):
    # https is the same reader class as http (one HttpReader, two schemes); the case is served over http
    assert plugins.load(plugins.SOURCES, "https") is plugins.load(plugins.SOURCES, "http")
    return _http_case(tmp_path, http)


def _file_case(tmp_path, http):
    path = tmp_path / "in.csv"
    path.write_bytes(b"one\n")
    return "in.csv", lambda: path.write_bytes(b"two\n"), b"one\n", b"two\n"


def _fsspec_case(tmp_path, http):
    import fsspec

    fs = fsspec.filesystem("memory")
    key = f"/flowtide-test/{tmp_path.name}.csv"
    fs.pipe(key, b"one\n")

    def change() -> None:
        time.sleep(0.01)  # memory:// ukey is the file's metadata (its mtime): make sure it changes with the bytes
        fs.pipe(key, b"two\n")

    return f"memory://{key}", change, b"one\n", b"two\n"


def _predictions_case(tmp_path, http):
    """The prediction log (a real SQLite segment written by the serving code) as a source."""
    from flowtide.serve.predlog import PredictionLog

    (tmp_path / "flowtide.yaml").write_text(
        "project: t\nmodel: {name: m, path: m.skops, target: label, features: [x]}\n"
    )

    def labelled(rid: str, x: float, label: str) -> None:
        log = PredictionLog(tmp_path / ".flowtide" / "predictions")
        log.prediction(rid, time.time(), "m", 1, "production", {"x": x}, "a", 1.0)
        log.feedback(rid, time.time(), "m", label)
        log.close()

    labelled("r1", 1.5, "one")
    return "predictions://m", lambda: labelled("r2", 2.5, "two"), b"x,label\n1.5,one\n", b"x,label\n1.5,one\n2.5,two\n"


def _demo_case(tmp_path, http):
    """The installed plugin's demo:// scheme."""
    (tmp_path / ".demo").mkdir()
    path = tmp_path / ".demo" / "a.csv"
    path.write_bytes(b"one\n")
    return "demo://a.csv", lambda: path.write_bytes(b"two\n"), b"one\n", b"two\n"


CASES = {
    "http": _http_case,
    "https": _https_case,
    "file": _file_case,
    "fsspec": _fsspec_case,
    "predictions": _predictions_case,
    "demo": _demo_case,
}


@pytest.mark.parametrize("component", implementations("sources"), indirect=True)
def test_reader_contract(component, tmp_path, http):
    assert component in CASES, f"the registered source reader {component!r} has no conformance case: add one"
    url, change, one, two = CASES[component](tmp_path, http)
    reader = plugins.load(plugins.SOURCES, component)()
    assert type(reader_for(url)) is type(reader)  # the case's URL is routed to this reader
    first = reader.read(_request(tmp_path, url))
    assert not first.not_modified
    assert (first.hash, first.size) == (hash_bytes(one), len(one))
    assert Store(tmp_path / "store").read_bytes(first.hash) == one
    validators = {k: v for k, v in {"etag": first.etag, "last_modified": first.last_modified}.items() if v}
    assert validators, "a reader must hand back a validator"
    again = reader.read(_request(tmp_path, url, validators=validators))
    assert again.not_modified and again.hash is None
    change()
    third = reader.read(_request(tmp_path, url, validators=validators))
    assert not third.not_modified and third.hash == hash_bytes(two)
