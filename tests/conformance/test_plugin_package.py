"""Real flowtide commands with the installed demo plugin: its source, check and executor used from flowtide.yaml."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BIN = os.path.dirname(sys.executable)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "data.csv").write_text("n\n2\n3\n")
    return tmp_path


def _flowtide(root, *args, site=None):
    path = os.pathsep.join(p for p in [str(site) if site else "", os.environ.get("PYTHONPATH", "")] if p)
    env = {**os.environ, "PYTHONPATH": path, "PATH": BIN + os.pathsep + os.environ["PATH"]}
    return subprocess.run([sys.executable, "-m", "flowtide", *args], cwd=root, env=env, capture_output=True, text=True)


CHECKED = "project: p\nsources:\n  data: {url: incoming.csv, path: data.csv}\nchecks:\n  data:\n    columns:\n      n: {type: int, even: %s}\n"


def test_check_fails_with_the_plugin_checks_message(project, plugin_site):
    (project / "flowtide.yaml").write_text(CHECKED % "true")
    proc = _flowtide(project, "check", "--json", site=plugin_site)
    assert proc.returncode == 1, proc.stderr
    import json

    (finding,) = [f for f in json.loads(proc.stdout)["findings"] if f["rule"] == "even"]
    assert (finding["status"], finding["message"]) == ("fail", "1 row failed even (odd values); first: row 2 (3)")


def test_a_plugin_check_option_it_refuses_is_a_config_error_at_load(project, plugin_site):
    (project / "flowtide.yaml").write_text(CHECKED % "3")
    proc = _flowtide(project, "status", site=plugin_site)
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: flowtide.yaml:7:22: checks.data.columns.n.even: even takes `true`, got 3\n"
        "See the documentation of the check 'even' (flowtide-demo-plugin 1.0).\n"
    )


def test_without_the_package_the_plugin_check_is_an_unknown_key(project):
    (project / "flowtide.yaml").write_text(CHECKED % "true")
    proc = _flowtide(project, "check")
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: flowtide.yaml:7:22: unknown key 'even' in checks.data.columns.n\n"
        "Allowed keys here: type, not_null, unique, min, max, in, regex, max_null_fraction, mean, std, plugins. "
        "A check from an installed package is written the same way, but no installed package registers 'even' "
        "(entry-point group flowtide.checks).\n"
    )


def test_pull_reads_the_plugin_source(project, plugin_site):
    (project / ".demo").mkdir()
    (project / ".demo" / "hello.txt").write_text("hello from demo://\n")
    (project / "flowtide.yaml").write_text("project: p\nsources:\n  d:\n    url: demo://hello.txt\n    path: d.txt\n")
    proc = _flowtide(project, "pull", site=plugin_site)
    assert proc.returncode == 0, proc.stderr
    assert (project / "d.txt").read_text() == "hello from demo://\n"


def test_run_uses_the_plugin_executor(project, plugin_site):
    (project / "flowtide.yaml").write_text(
        "project: p\nexecutor: inline\nstages:\n  s:\n    cmd: python -c \"open('out.txt','w').write('ran')\"\n"
        "    outs: [out.txt]\n"
    )
    proc = _flowtide(project, "run", "--json", site=plugin_site)
    assert proc.returncode == 0, proc.stderr
    assert (project / "out.txt").read_text() == "ran"
    import json

    assert json.loads(proc.stdout)["stages"]["s"]["where"] == "inline"


def test_an_executor_nobody_installed_is_a_config_error_at_load(project):
    (project / "flowtide.yaml").write_text("project: p\nexecutor: inline\n")
    proc = _flowtide(project, "status")
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: flowtide.yaml:2:1: executor: unknown executor 'inline' (installed: local, ray)\n"
        "Use one of the installed names, or install the package that provides 'inline' (it declares an entry point "
        "named 'inline' in the group flowtide.executors).\n"
    )


def test_a_packaged_model_in_a_plugin_format_pins_the_plugin_package(installed_plugin):
    from flowtide.package import requirements

    assert "flowtide-demo-plugin==1.0" in requirements("threshold")
    assert not any(r.startswith("flowtide-demo-plugin") for r in requirements("skops"))
