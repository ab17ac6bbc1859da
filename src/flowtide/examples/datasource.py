"""The examples' data source: a small real HTTP server publishing a data set month by month.

Two data sets, each from a package that ships it:

- ``weather`` (the default): ``/seattle-weather.csv``, the Seattle daily weather that
  ``vega_datasets`` ships (2012–2015, dates written ISO ``YYYY-MM-DD``);
- ``penguins``: ``/penguins.parquet``, the Palmer penguins that ``palmerpenguins``
  ships (344 birds, 2007–2009, missing values as nulls), one row per bird with the
  date its first egg was seen, the ``date`` column.

Each is published up to the end of the "as of" month, with a strong ETag,
Last-Modified and 304 answers to conditional GETs. ``POST /advance`` publishes
one more month (``?months=N``), ``POST /as-of?month=YYYY-MM`` sets it, ``GET
/state`` answers JSON. Use it from the command line (``python -m
flowtide.examples.datasource --port 0 [--dataset penguins]``) or in-process
(:class:`DataSource`).
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import json
import sys
import threading
import time
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

CSV_NAME = "seattle-weather.csv"
PARQUET_NAME = "penguins.parquet"
FIRST_MONTH = "2012-01"
LAST_MONTH = "2015-12"
DATASETS = ("weather", "penguins")


def vega_csv() -> Path:
    # find_spec, not import: importing vega_datasets loads pandas (seconds) just to give us a path
    from importlib.util import find_spec

    spec = find_spec("vega_datasets")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the vega_datasets package is not installed (pip install 'flowtide[examples]')")
    return Path(next(iter(spec.submodule_search_locations))) / "_data" / CSV_NAME


def penguins_csvs() -> tuple[Path, Path]:
    """(penguins.csv, penguins-raw.csv) as the ``palmerpenguins`` package ships them."""
    from importlib.util import find_spec

    spec = find_spec("palmerpenguins")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the palmerpenguins package is not installed (pip install 'flowtide[examples]')")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    return data / "penguins.csv", data / "penguins-raw.csv"


def penguins_frame():
    """The penguins as published: ``id``, ``date`` (first egg seen), the tidy columns, nulls where measures are missing.

    The tidy file (``penguins.csv``) and the raw one list the same 344 birds in the
    same order; the raw file has the dates.
    """
    import polars as pl

    tidy_path, raw_path = penguins_csvs()
    tidy = pl.read_csv(tidy_path, null_values=["NA"]).drop("year")
    raw = pl.read_csv(raw_path, null_values=["NA"], infer_schema_length=None, columns=["Date Egg"])
    if len(raw) != len(tidy):
        raise ValueError(f"{raw_path.name} has {len(raw)} rows and {tidy_path.name} {len(tidy)}: not the same birds")
    frame = tidy.with_columns(
        id=pl.int_range(1, len(tidy) + 1, dtype=pl.Int64), date=raw["Date Egg"].str.to_date("%Y-%m-%d")
    )
    return frame.select("id", "date", *tidy.columns).sort("date", "id", maintain_order=True)


def _month_index(month: str) -> int:
    try:
        year, mon = (int(p) for p in month.split("-"))
    except ValueError:
        raise ValueError(f"month {month!r} must look like YYYY-MM") from None
    if not 1 <= mon <= 12:
        raise ValueError(f"month {month!r} must look like YYYY-MM")
    return year * 12 + mon - 1


def _month_name(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


class DataSource:
    """The server as a library object: ``start()`` in a thread, ``advance()``, ``stop()``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        as_of: str = "2012-03",
        data: str | Path | None = None,
        dataset: str = "weather",
    ) -> None:
        if dataset not in DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}: {', '.join(DATASETS)}")
        self.host = host
        self.port = port
        self.dataset = dataset
        self._lock = threading.Lock()
        if dataset == "penguins":
            if data:
                raise ValueError("--data is for the weather CSV; the penguins come from palmerpenguins")
            self.file_name, self.content_type = PARQUET_NAME, "application/vnd.apache.parquet"
            self.data_path = penguins_csvs()[0]
            self._frame = penguins_frame()
            self._header, self._rows = "", [d.isoformat() for d in self._frame["date"].to_list()]
        else:
            self.file_name, self.content_type = CSV_NAME, "text/csv; charset=utf-8"
            self.data_path = Path(data) if data else vega_csv()
            self._frame = None
            self._header, self._rows = self._read(self.data_path)
        self._months = sorted({row[:7] for row in self._rows})
        self._as_of = _month_index(as_of)
        self._cache: tuple[int, bytes, str, str] | None = None
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status), for tests and the demo
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @staticmethod
    def _read(path: Path) -> tuple[str, list[str]]:
        lines = path.read_text(encoding="utf-8").splitlines()
        header, rows = lines[0], [line for line in lines[1:] if line.strip()]
        # vega_datasets writes 2012/01/01; ISO dates are what every reader parses by default
        rows = [row.replace("/", "-", 2) if row[4:5] == "/" else row for row in rows]
        return header, rows

    # -- state --------------------------------------------------------------------

    @property
    def as_of(self) -> str:
        return _month_name(self._as_of)

    def set_as_of(self, month: str) -> str:
        with self._lock:
            self._as_of = _month_index(month)
            return self.as_of

    def advance(self, months: int = 1) -> str:
        with self._lock:
            self._as_of += months
            return self.as_of

    def body(self) -> tuple[bytes, str, str]:
        """(bytes, strong ETag, Last-Modified) of the data set as of the current month."""
        with self._lock:
            if self._cache and self._cache[0] == self._as_of:
                return self._cache[1], self._cache[2], self._cache[3]
            limit = self.as_of
            rows = [row for row in self._rows if row[:7] <= limit]
            if self._frame is not None:
                data = self._parquet(len(rows))
            else:
                data = ("\n".join([self._header, *rows]) + "\n").encode("utf-8")
            etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
            # the data changes when the month changes: stamp it with the last day published
            last = rows[-1][:10] if rows else (self._rows[0][:10] if self._rows else "2012-01-01")
            stamp = calendar.timegm(time.strptime(last + " 12:00:00", "%Y-%m-%d %H:%M:%S"))
            modified = formatdate(stamp, usegmt=True)
            self._cache = (self._as_of, data, etag, modified)
            return data, etag, modified

    def _parquet(self, rows: int) -> bytes:
        import io

        buffer = io.BytesIO()
        self._frame.head(rows).write_parquet(buffer, statistics=False)
        return buffer.getvalue()

    def state(self) -> dict:
        data, etag, modified = self.body()
        rows = (
            sum(1 for row in self._rows if row[:7] <= self.as_of) if self._frame is not None else data.count(b"\n") - 1
        )
        return {
            "dataset": self.dataset,
            "as_of": self.as_of,
            "rows": rows,
            "bytes": len(data),
            "etag": etag,
            "last_modified": modified,
            "first_month": self._months[0] if self._months else None,
            "last_month": self._months[-1] if self._months else None,
            "url": self.url if self._server else None,
        }

    # -- server ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/{self.file_name}"

    def start(self) -> DataSource:
        self._server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="datasource", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        print(f"serving {self.url} as of {self.as_of}", flush=True)
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._server.server_close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> DataSource:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _handler(source: DataSource):
    class Handler(BaseHTTPRequestHandler):
        server_version = "flowtide-datasource/1"
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # quiet: the demo prints what matters
            pass

        def _send(self, status: int, body: bytes = b"", headers: dict | None = None, *, head: bool = False) -> None:
            # recorded before answering, so a client that got the answer also sees the record
            source.requests.append((self.command, self.path, status))
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and not head and status != 304:
                self.wfile.write(body)

        def _json(self, status: int, data: dict) -> None:
            self._send(status, json.dumps(data).encode() + b"\n", {"Content-Type": "application/json"})

        def do_GET(self, head: bool = False) -> None:
            url = urlsplit(self.path)
            if url.path == "/state":
                return self._json(200, source.state())
            if url.path != f"/{source.file_name}":
                return self._send(404, b"not found\n", {"Content-Type": "text/plain"}, head=head)
            data, etag, modified = source.body()
            headers = {"ETag": etag, "Last-Modified": modified, "Content-Type": source.content_type}
            if _not_modified(self.headers, etag, modified):
                return self._send(304, b"", headers)
            return self._send(200, data, headers, head=head)

        def do_HEAD(self) -> None:
            self.do_GET(head=True)

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            try:
                if url.path == "/advance":
                    source.advance(int(query.get("months", ["1"])[0]))
                elif url.path == "/as-of":
                    source.set_as_of(query.get("month", [""])[0])
                else:
                    return self._json(404, {"error": f"no such endpoint {url.path}"})
            except ValueError as exc:
                return self._json(400, {"error": str(exc)})
            return self._json(200, source.state())

    return Handler


def _not_modified(headers, etag: str, modified: str) -> bool:
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        return etag in [tag.strip() for tag in if_none_match.split(",")] or if_none_match.strip() == "*"
    since = headers.get("If-Modified-Since")
    if since:
        try:
            return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flowtide.examples.datasource",
        description="Serve an example's data set month by month: the Seattle weather CSV (the weather example) "
        "or the Palmer penguins as Parquet (the penguins example).",
    )
    parser.add_argument("--dataset", choices=DATASETS, default="weather")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed on start)")
    parser.add_argument(
        "--as-of", metavar="YYYY-MM", help="last month published (default: 2012-03 weather, 2008-12 penguins)"
    )
    parser.add_argument("--data", metavar="PATH", help="CSV to serve (default: the vega_datasets copy)")
    args = parser.parse_args(argv)
    try:
        as_of = args.as_of or ("2008-12" if args.dataset == "penguins" else "2012-03")
        source = DataSource(host=args.host, port=args.port, as_of=as_of, data=args.data, dataset=args.dataset)
    except (ValueError, OSError) as exc:  # FileNotFoundError: the package that ships the data is missing
        print(f"error: {exc}", file=sys.stderr)
        return 2
    source.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
