"""The component registries (flowtide/plugins.py): built-ins registered by entry point, errors that say what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from flowtide import plugins
from flowtide.errors import PluginError


def test_the_built_ins_are_registered_as_entry_points():
    assert plugins.names(plugins.SOURCES) == ["file", "fsspec", "http", "https", "predictions"]
    assert plugins.names(plugins.CHECKS) == [
        "in",
        "max",
        "max_null_fraction",
        "mean",
        "min",
        "not_null",
        "regex",
        "std",
        "type",
        "unique",
    ]
    assert plugins.names(plugins.FORMATS) == ["onnx", "python", "skops"]
    assert plugins.names(plugins.EXECUTORS) == ["local", "ray"]
    assert plugins.distribution(plugins.FORMATS, "skops") == "flowtide 0.1.0"


def test_an_unknown_name_lists_what_is_installed():
    with pytest.raises(PluginError) as info:
        plugins.load(plugins.FORMATS, "pickle")
    assert str(info.value) == (
        "unknown model format 'pickle' (installed: onnx, python, skops)\n"
        "Use one of the installed names, or install the package that provides 'pickle' "
        "(it declares an entry point named 'pickle' in the group flowtide.formats)."
    )
    assert info.value.exit_code == 2


def _dist(site, name: str, entry_points: str, module: str | None = None) -> None:
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    if module is not None:
        (site / f"{name.replace('-', '_')}.py").write_text(module)


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.clear()
    yield tmp_path
    plugins.clear()


def test_a_plugin_that_fails_to_import_names_its_distribution(site):
    _dist(site, "broken-plugin", "[flowtide.checks]\nodd = broken_plugin:Odd\n", "import no_such_module_xyz\n")
    with pytest.raises(PluginError) as info:
        plugins.load(plugins.CHECKS, "odd")
    assert str(info.value) == (
        "the check 'odd' from broken-plugin 0.1 failed to load (broken_plugin:Odd): "
        "ModuleNotFoundError: No module named 'no_such_module_xyz'\n"
        "Reinstall or upgrade broken-plugin 0.1, or uninstall it if you do not use 'odd'."
    )


def test_two_packages_registering_one_name_is_an_error_naming_both(site):
    _dist(site, "one-plugin", "[flowtide.executors]\nfar = one_plugin:Far\n")
    _dist(site, "two-plugin", "[flowtide.executors]\nfar = two_plugin:Far\n")
    with pytest.raises(PluginError) as info:
        plugins.names(plugins.EXECUTORS)
    assert str(info.value) == (
        "two packages register the executor 'far' (entry-point group flowtide.executors): "
        "one-plugin 0.1 (one_plugin:Far) and two-plugin 0.1 (two_plugin:Far)\n"
        "Uninstall one of them, or ask its author to choose another name."
    )


def test_loading_every_registered_component_imports_nothing_heavy():
    """Listing and loading classes reads metadata and small modules only; heavy imports wait for use."""
    code = (
        "import sys\n"
        "from flowtide import plugins\n"
        "for group in (plugins.SOURCES, plugins.CHECKS, plugins.FORMATS, plugins.EXECUTORS):\n"
        "    for name in plugins.names(group):\n"
        "        plugins.load(group, name)\n"
        "heavy = ('polars', 'numpy', 'sklearn', 'skops', 'onnxruntime', 'ray', 'uvicorn', 'httpx', 'fsspec')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "[]\n", "")


def _age(path, seconds: float = 60.0) -> None:
    """Date ``path`` back, as a directory nobody touched lately (a just-changed one is not cached)."""
    when = os.stat(path).st_mtime - seconds
    os.utime(path, (when, when))


def test_the_scan_is_kept_for_the_next_process_until_a_distribution_is_installed(site, tmp_path_factory, monkeypatch):
    _dist(site, "one-plugin", "[flowtide.executors]\nfar = one_plugin:Far\n[console_scripts]\nx = one_plugin:x\n")
    _age(site)
    monkeypatch.setattr(plugins, "_cache_file", None)  # (restored after the test)
    cache = tmp_path_factory.mktemp("state")  # (not under the site directory: writing it would change that)
    plugins.remember_scan_in(cache)
    assert plugins.names(plugins.EXECUTORS) == ["far", "local", "ray"]
    saved = json.loads((cache / "entry-points.json").read_text())
    assert saved["path"][0] == str(site)
    assert saved["found"][0] == [0, "one_plugin-0.1.dist-info"]  # and flowtide's own, wherever it is installed
    assert [name for _, name in saved["found"][1:]] == [next(n for _, n in saved["found"] if n.startswith("flowtide"))]

    def no_scan(bases):
        raise AssertionError("listed the distributions again")

    plugins.clear()
    with monkeypatch.context() as patched:
        patched.setattr(plugins, "_full_scan", no_scan)
        assert plugins.names(plugins.EXECUTORS) == ["far", "local", "ray"]  # from the kept list, same answer
        assert plugins.entries(plugins.EXECUTORS)["far"].value == "one_plugin:Far"
    # installing another distribution changes the directory: listed again, the newcomer is seen
    _dist(site, "two-plugin", "[flowtide.executors]\nnear = two_plugin:Near\n")
    plugins.clear()
    assert plugins.names(plugins.EXECUTORS) == ["far", "local", "near", "ray"]


def test_a_forged_or_stale_scan_file_only_means_a_full_scan(site, tmp_path_factory, monkeypatch):
    _dist(site, "one-plugin", "[flowtide.executors]\nfar = one_plugin:Far\n")
    (site / "evil").mkdir()
    (site / "evil" / "entry_points.txt").write_text("[flowtide.executors]\nevil = os:system\n")
    _age(site)
    monkeypatch.setattr(plugins, "_cache_file", None)
    cache = tmp_path_factory.mktemp("state")  # (not under the site directory: writing it would change that)
    plugins.remember_scan_in(cache)
    plugins.names(plugins.EXECUTORS)
    saved = json.loads((cache / "entry-points.json").read_text())
    index = saved["found"][0][0]
    for found in ([[index, "evil"]], [[index, "../evil"]], [[index, "/etc"]], [[99, "x.dist-info"]], [["0", "a"]], "x"):
        (cache / "entry-points.json").write_text(json.dumps({**saved, "found": found}))
        plugins.clear()
        assert plugins.names(plugins.EXECUTORS) == ["far", "local", "ray"], found
    # an entry_points.txt rewritten in place without a reinstall: the kept name no longer declares any
    (cache / "entry-points.json").write_text(json.dumps(saved))
    (site / "one_plugin-0.1.dist-info" / "entry_points.txt").write_text("[console_scripts]\nx = one_plugin:x\n")
    plugins.clear()
    assert plugins.names(plugins.EXECUTORS) == ["local", "ray"]
    (cache / "entry-points.json").write_bytes(b"\xff{not json")
    plugins.clear()
    assert plugins.names(plugins.EXECUTORS) == ["local", "ray"]
