"""Shared by the conformance suites: every registered implementation of a kind, plus a real installed plugin."""

from __future__ import annotations

import contextlib

import pytest

from flowtide import plugins

from .plugin_package import NAMES, build


def implementations(kind: str, marks: dict | None = None) -> list:
    """pytest params: every name registered in the kind's group now, then the demo plugin's (installed per test)."""
    group = getattr(plugins, kind.upper())
    marks = marks or {}
    registered = [
        pytest.param(name, id=name, marks=marks.get(name, ())) for name in plugins.names(group) if name != NAMES[kind]
    ]
    return [*registered, pytest.param(NAMES[kind], id=f"{NAMES[kind]}-plugin")]


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory):
    """flowtide-demo-plugin installed into a directory, once per session (shared by xdist workers)."""
    return build(tmp_path_factory.getbasetemp().parent / "flowtide-demo-plugin")


@contextlib.contextmanager
def plugin_installed(site, name: str | None = None):
    """The demo plugin importable and registered in this process (when ``name`` is one of its), then forgotten."""
    if name is not None and name not in NAMES.values():
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(site))
        plugins.clear()
        try:
            yield
        finally:
            plugins.clear()


@pytest.fixture
def installed_plugin(plugin_site):
    """The demo plugin importable and registered for one test."""
    with plugin_installed(plugin_site):
        yield plugin_site


@pytest.fixture
def component(request):
    """The name under test; installs the demo plugin when the name is the plugin's."""
    name = request.param
    if name in NAMES.values():
        request.getfixturevalue("installed_plugin")
    return name
