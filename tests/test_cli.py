from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from flowtide.cli import COMMANDS, command_parser

from .conftest import run_cli, run_process

HEAVY = ["polars", "pandas", "sklearn", "uvicorn", "mlflow", "ray", "pydantic", "ruamel", "httpx", "rich", "numpy"]


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def test_import_flowtide_loads_no_heavy_library():
    assert _loaded_after("import flowtide") == []


def test_building_the_cli_and_the_status_parser_loads_no_heavy_library():
    code = (
        "import flowtide.cli as c\nc._top_parser()\nc.command_parser('status')"
        if _has("status")
        else "import flowtide.cli as c\nc._top_parser()"
    )
    assert _loaded_after(code) == []


def _has(command: str) -> bool:
    try:
        command_parser(command)
    except ImportError:
        return False
    return True


def test_the_program_freezes_what_it_made_before_exiting_and_an_in_process_call_does_not(tmp_path):
    """`flowtide` as a program hands its objects to the permanent generation (the exit skips collecting
    them again) and still ends with its exit code and output; main(argv) called by a host changes nothing."""
    import gc

    probe = (
        "import gc, sys\nfrom flowtide.cli import main\nsys.argv = ['flowtide', 'nosuch']\n"
        "code = main()\nprint('FROZEN', gc.get_freeze_count() > 0, code)"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "FROZEN True 2" in proc.stdout and "unknown command 'nosuch'" in proc.stderr
    before = gc.get_freeze_count()
    assert run_cli("nosuch").code == 2
    assert gc.get_freeze_count() == before


def test_help_lists_every_command():
    result = run_process("--help", check=True)
    assert result.out.startswith("usage: flowtide")
    for name in COMMANDS:
        assert f"\n  {name} " in result.out


def test_no_command_prints_help_and_exits_2():
    result = run_cli()
    assert result.code == 2 and "commands:" in result.out


def test_unknown_command_suggests_a_close_one():
    result = run_cli("pul")
    assert result.code == 2
    assert result.err == "flowtide: unknown command 'pul'. Did you mean `pull`? See `flowtide --help`.\n"


@pytest.mark.parametrize("command", ["init", "pull", "schema"])
def test_my_commands_have_help_and_json(command):
    parser, module = command_parser(command)
    text = parser.format_help()
    assert module.DESCRIPTION.split()[0] in text
    if command != "schema":
        assert "--json" in text


def _parsers(parser, path):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_command_and_subcommand_has_a_description():
    found = {}
    for name in COMMANDS:
        parser, _module = command_parser(name)
        for path, each in _parsers(parser, f"flowtide {name}"):
            found[path] = each.description
    assert {"flowtide ci generate", "flowtide ci check", "flowtide ci simulate", "flowtide runs show"} <= set(found)
    assert [path for path, text in found.items() if not text or len(text.split()) < 5] == []
    # a description says more than the one-line help of the command table
    assert found["flowtide ci simulate"] != found["flowtide ci"]


def test_outside_a_project_pull_says_how_to_start(tmp_path):
    result = run_cli("pull", cwd=tmp_path)
    assert result.code == 2
    assert result.err.startswith(f"error: no flowtide.yaml in {tmp_path.resolve()} or any parent directory\n")
    assert "flowtide init" in result.err


def test_dash_c_runs_in_another_directory(tmp_path):
    result = run_cli("-C", str(tmp_path / "p"), "init", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["root"] == str(tmp_path / "p")


def test_help_imports_no_more_than_argparse_needs():
    """Start-up is part of speed: `flowtide --help` loads the CLI table, not argparse, typing or a library."""
    import subprocess
    import sys

    script = (
        "import sys; from flowtide.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('loaded:' + ','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'argparse', 'typing', 'pydantic', 'polars', 'numpy', 'rich', 'httpx', 'ruamel', 'yaml'})))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "loaded:"


@pytest.mark.parametrize("columns", ["40", "63", "64", "80", "120", "250"])
def test_the_help_is_argparses_text_at_every_width(monkeypatch, capsys, columns):
    """`flowtide --help` prints a kept copy of argparse's help (no parser built) where argparse would print the
    same, and lets argparse print it in a terminal narrower than that: what a user sees is argparse's own."""
    from flowtide.cli import _HELP_MIN_COLUMNS, _top_parser, help_text, main

    monkeypatch.setenv("COLUMNS", columns)
    expected = _top_parser().format_help()
    assert (help_text() == expected) is (int(columns) >= _HELP_MIN_COLUMNS)
    try:
        code = main(["--help"])
    except SystemExit as exit_:  # argparse's own --help exits
        code = exit_.code
    assert code == 0 and capsys.readouterr().out == expected


def test_a_run_imports_neither_shutil_nor_tempfile(tmp_path):
    """Every command that writes a file made its temp file with tempfile (shutil, random, bz2, lzma along) and
    argparse asked shutil for the terminal width: a run, its lock, its store blobs and its record now need none."""
    import subprocess
    import sys

    (tmp_path / "flowtide.yaml").write_text(
        "project: imports\nstages:\n  make:\n"
        "    cmd: python -c \"open('out.txt', 'w').write('x')\"\n    outs: [out.txt]\n"
    )
    script = (
        "import sys; from flowtide.cli import main\n"
        "code = main(['run'])\n"
        "print('loaded:' + ','.join(sorted(m for m in sys.modules if m in "
        "{'shutil', 'tempfile', 'random', 'bz2', 'lzma'})), code)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.splitlines()[-1] == "loaded: 0"
    assert (tmp_path / "out.txt").read_text() == "x" and (tmp_path / "flowtide.lock").exists()


@pytest.mark.parametrize("columns", ["30", "80", "137"])
def test_command_help_is_formatted_at_argparses_own_width(monkeypatch, columns):
    """The formatter is told the width argparse would work out itself: every command's help is unchanged."""
    import flowtide.cli as cli

    monkeypatch.setenv("COLUMNS", columns)
    ours = {name: cli.command_parser(name)[0].format_help() for name in COMMANDS}
    ours["flowtide"] = cli._top_parser().format_help()
    monkeypatch.setattr(cli, "_formatter", lambda cls: cls)  # argparse's own formatter, which asks shutil
    theirs = {name: cli.command_parser(name)[0].format_help() for name in COMMANDS}
    theirs["flowtide"] = cli._top_parser().format_help()
    assert ours == theirs
    assert cli._formatter(argparse.HelpFormatter)("p")._width == int(columns) - 2


def test_a_bare_command_gets_the_namespace_argparse_would_make():
    """`flowtide run` (and the other commands a loop or CI job runs without arguments) skip argparse: the kept
    namespace must be exactly argparse's, option for option, or the command would see other defaults."""
    import flowtide.cli as cli

    for name, kept in cli._BARE.items():
        parser, _ = cli.command_parser(name)
        assert vars(parser.parse_args([])) == kept, name
    theirs = cli.command_parser("run")[0].parse_args([])
    theirs.project, theirs.debug = None, False
    ours = cli._Namespace(**cli._BARE["run"], project=None, debug=False)
    assert vars(ours) == vars(theirs) and repr(ours) == repr(theirs)


def test_a_bare_run_imports_no_argparse_and_one_with_options_does(tmp_path):
    import subprocess
    import sys

    (tmp_path / "flowtide.yaml").write_text(
        "project: bare\nstages:\n  make:\n    cmd: python -c \"open('out.txt', 'w').write('x')\"\n    outs: [out.txt]\n"
    )
    script = (
        "import sys; from flowtide.cli import main\ncode = main(sys.argv[1:])\nprint('argparse' in sys.modules, code)"
    )
    bare = subprocess.run([sys.executable, "-c", script, "run"], capture_output=True, text=True, cwd=tmp_path)
    assert bare.stdout.splitlines()[-1] == "False 0", bare.stderr
    assert (tmp_path / "out.txt").read_text() == "x"
    status = subprocess.run([sys.executable, "-c", script, "status"], capture_output=True, text=True, cwd=tmp_path)
    assert status.stdout.splitlines() == ["Everything is up to date.", "False 0"], status.stderr
    forced = subprocess.run(
        [sys.executable, "-c", script, "run", "--force"], capture_output=True, text=True, cwd=tmp_path
    )
    assert forced.stdout.splitlines()[-1] == "True 0" and "make: running (forced)" in forced.stdout + forced.stderr


def test_a_bare_command_takes_debug_from_the_environment_as_the_parsed_one_does(monkeypatch):
    import flowtide.cli as cli

    seen = []
    monkeypatch.setattr(cli, "run_command", lambda module, args: seen.append((module.__name__, vars(args))) or 0)
    monkeypatch.setenv("FLOWTIDE_DEBUG", "1")
    assert cli.main(["status"]) == 0 and cli.main(["status", "--json"]) == 0
    monkeypatch.delenv("FLOWTIDE_DEBUG")
    assert cli.main(["pull"]) == 0
    assert seen == [
        ("flowtide.cli.status", {"json": False, "project": None, "debug": True}),
        ("flowtide.cli.status", {"json": True, "project": None, "debug": True}),
        ("flowtide.cli.pull", {**cli._BARE["pull"], "project": None, "debug": False}),
    ]
    assert seen[-1][1]["sources"] is not cli._BARE["pull"]["sources"]  # a command may change its own list
