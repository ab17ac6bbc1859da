"""Serving: production, canary and shadow versions over HTTP, with a prediction log.

``create_app(project)`` builds the ASGI app; ``run_server`` runs it with uvicorn.
Heavy imports (starlette, uvicorn, prometheus_client, the model) happen inside.
"""

from __future__ import annotations

__all__ = ["ServerThread", "create_app", "run_server"]


def __getattr__(name: str):
    if name == "create_app":
        from .app import create_app

        return create_app
    if name in ("ServerThread", "run_server"):
        from . import server

        return getattr(server, name)
    raise AttributeError(name)
