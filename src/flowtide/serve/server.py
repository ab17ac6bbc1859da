"""Running the app with uvicorn: in the foreground (`flowtide serve`) or in a thread (tests, demo).

The socket is bound here (port 0 picks a free port) so the real address can be
printed before the first request; with ``workers > 1`` uvicorn's supervisor
forks workers that share it, each building its own app (and its own log).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from typing import Any

from .lean import lean_imports

_OPTIONS_ENV = "FLOWTIDE_SERVE_OPTIONS"


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio only sets TCP_NODELAY on such sockets (else 40 ms delayed-ACK stalls)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)  # connect() succeeds (queued) from now on, before uvicorn accepts
    sock.set_inheritable(True)
    return sock


def _config(app: Any, **kwargs: Any):
    import uvicorn

    return uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", **kwargs)


class ServerThread:
    """A uvicorn server on 127.0.0.1 in a background thread; ``url`` once started."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.app = app
        self.sock = bind(host, port)
        self.host, self.port = self.sock.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        self.server = uvicorn.Server(_config(app))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self, timeout: float = 30.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _app_from_env():
    """uvicorn factory for worker processes: the options travel in an environment variable."""
    from ..project import Project
    from .app import create_app

    lean_imports()
    options = json.loads(os.environ[_OPTIONS_ENV])
    project = Project.load(options.pop("project"))
    return create_app(project, **options)


def run_server(
    project,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    follow: str | None = None,
    interval: float = 2.0,
    log_dir: str | None = None,
    threads: int | None = None,
    announce=None,
) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn handles both and drains in-flight requests)."""
    from ..extras import require

    require("serve", "flowtide serve")
    import uvicorn

    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    options = {"follow": follow, "interval": interval, "log_dir": log_dir, "threads": threads}
    if workers <= 1:
        from .app import create_app

        lean_imports()
        app = create_app(project, **options)
        if announce:
            announce(f"http://{host}:{bound_port}", app.describe_versions(), app.all_problems())
        uvicorn.Server(_config(app)).run(sockets=[sock])
        return
    from uvicorn.supervisors import Multiprocess

    os.environ[_OPTIONS_ENV] = json.dumps({"project": str(project.root), **options})
    config = _config("flowtide.serve.server:_app_from_env", factory=True, workers=workers)
    if announce:
        announce(f"http://{host}:{bound_port}", {"workers": workers}, [])
    sys.stdout.flush()
    import inspect

    if "target" in inspect.signature(Multiprocess.__init__).parameters:  # uvicorn < 0.36
        Multiprocess(config, target=uvicorn.Server(config).run, sockets=[sock]).run()
    else:
        Multiprocess(config, sockets=[sock]).run()
