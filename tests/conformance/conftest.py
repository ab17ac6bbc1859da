"""Shared by the conformance suites: every registered implementation of a kind, plus a real installed plugin."""

from __future__ import annotations

import pytest

from flowtide import plugins

from .plugin_package import NAMES, build


def implementations(kind: str) -> list:
    """pytest params: every name registered in the kind's group now, then the demo plugin's (installed per test)."""
    group = getattr(plugins, kind.upper())
    registered = [pytest.param(name, id=name) for name in plugins.names(group) if name != NAMES[kind]]
    return [*registered, pytest.param(NAMES[kind], id=f"{NAMES[kind]}-plugin")]


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory):
    """flowtide-demo-plugin installed into a directory, once per session (shared by xdist workers)."""
    return build(tmp_path_factory.getbasetemp().parent / "flowtide-demo-plugin")


@pytest.fixture
def installed_plugin(plugin_site, monkeypatch):
    """The demo plugin importable and registered in this process for one test, forgotten afterwards."""
    monkeypatch.syspath_prepend(str(plugin_site))
    plugins.clear()
    yield plugin_site
    plugins.clear()


@pytest.fixture
def component(request):
    """The name under test; installs the demo plugin when the name is the plugin's."""
    name = request.param
    if name in NAMES.values():
        request.getfixturevalue("installed_plugin")
    return name
