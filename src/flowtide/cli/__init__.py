"""The command line: a thin edge that parses arguments, calls the library, renders.

Start-up is part of speed: `flowtide --help` imports nothing beyond this module
(its text is argparse's, kept here; a test holds the two equal), and neither do
the commands run without arguments (`flowtide run`, `status`, `pull`...: their
namespaces are kept too); every other command line imports argparse and then the
command's module, and heavy libraries load only inside the functions that need them.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing itself is an import `--help` need not pay for
if TYPE_CHECKING:
    import argparse

# command -> (module, one-line help). Listed here so `flowtide --help` imports nothing else.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": (
        "flowtide.cli.init",
        "create flowtide.yaml, params.yaml, Makefile, tests and workflows (or an example project)",
    ),
    "schema": ("flowtide.cli.schema", "print the JSON Schema of flowtide.yaml"),
    "pull": ("flowtide.cli.pull", "fetch sources, check them, store the bytes and update the lock"),
    "check": (
        "flowtide.cli.check",
        "run data checks (schema, expectations, drift) and write reports",
    ),
    "run": ("flowtide.cli.run", "run the stale stages of the pipeline"),
    "status": ("flowtide.cli.status", "list stale stages and why (exit 1 if any)"),
    "runs": ("flowtide.cli.runs", "list recorded runs, or show one"),
    "sweep": ("flowtide.cli.sweep", "run the pipeline over a grid of params"),
    "diff": ("flowtide.cli.diff", "compare metrics, params and plots between revisions"),
    "gate": ("flowtide.cli.gate", "evaluate quality gates and model tests on the current metrics"),
    "register": ("flowtide.cli.register", "record a candidate model version with its lineage"),
    "models": ("flowtide.cli.models", "list model versions, stages and lineage"),
    "promote": ("flowtide.cli.promote", "move a model version to staging or production"),
    "rollback": ("flowtide.cli.rollback", "return production to the previous version"),
    "package": (
        "flowtide.cli.package",
        "write a self-contained bundle and Dockerfile for a version",
    ),
    "export": ("flowtide.cli.export", "export runs and versions to MLflow"),
    "serve": ("flowtide.cli.serve", "serve production (and canary / shadow) models over HTTP"),
    "monitor": (
        "flowtide.cli.monitor",
        "analyse logged predictions: drift, live performance, canary verdict",
    ),
    "loop": ("flowtide.cli.loop", "run the triggers locally: schedules, pull, train, monitor"),
    "push": ("flowtide.cli.push", "upload blobs to the remote store"),
    "fetch": ("flowtide.cli.fetch", "download blobs from the remote store and materialise them"),
    "gc": ("flowtide.cli.gc", "remove cache entries nothing references"),
    "fsck": ("flowtide.cli.fsck", "check every stored blob against its hash; quarantine and repair corrupt ones"),
    "doctor": ("flowtide.cli.doctor", "report the project's MLOps maturity and what is missing"),
    "dashboard": (
        "flowtide.cli.dashboard",
        "build a static site of versions, runs, monitor results and data over time",
    ),
    "ci": ("flowtide.cli.ci", "generate, check and simulate CI workflows"),
    "import": ("flowtide.cli.imports", "import a DVC project (pipeline, data, cache) or GTO's registry tags"),
    "completion": ("flowtide.cli.completion", "print a bash or zsh completion script"),
}

_DESCRIPTION = "flowtide: continuous training, testing, deployment and monitoring on git and plain files."


# what argparse prints for `flowtide --help` above the commands (RawDescriptionHelpFormatter: the same at any width
# a terminal has in practice); tests/test_cli.py compares the whole text with argparse's at several widths
_HELP_HEAD = f"""usage: flowtide [-h] [--version] [-C DIR] [--debug] [COMMAND]

{_DESCRIPTION}

positional arguments:
  COMMAND

options:
  -h, --help            show this help message and exit
  --version             show program's version number and exit
  -C DIR, --project DIR
                        run as if started in DIR
  --debug               show tracebacks
"""


def _epilog() -> str:
    width = max(len(name) for name in COMMANDS) + 2
    table = "\n".join(f"  {name:<{width}}{text}" for name, (_, text) in COMMANDS.items())
    return f"commands:\n{table}\n\nRun `flowtide COMMAND --help` for a command's options."


_HELP_MIN_COLUMNS = 64
"""Narrower than this, argparse wraps the options differently: it prints the help itself."""


def _columns() -> int:
    """The width argparse formats for: ``shutil.get_terminal_size().columns`` (COLUMNS if a positive number,
    else the terminal's, 80 when neither is known), without importing shutil."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return 80


def _formatter(cls):
    """``cls`` (an argparse formatter class) told the width it would work out itself: argparse asks shutil
    for it, an import of shutil and three compression modules in every command."""

    def make(prog, **kwargs):
        kwargs.setdefault("width", _columns() - 2)
        return cls(prog, **kwargs)

    return make


def help_text() -> str:
    """`flowtide --help`, without building the parser (argparse alone costs more than Python's own start-up)."""
    return f"{_HELP_HEAD}\n{_epilog()}\n"


def _common(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    import argparse

    default = None if top else argparse.SUPPRESS
    parser.add_argument(
        "-C",
        "--project",
        dest="project",
        metavar="DIR",
        default=default,
        help="run as if started in DIR",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="show tracebacks",
    )


def _top_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="flowtide",
        description=_DESCRIPTION,
        epilog=_epilog(),
        formatter_class=_formatter(argparse.RawDescriptionHelpFormatter),
        add_help=True,
    )
    parser.add_argument("--version", action="version", version=f"flowtide {_version()}")
    _common(parser, top=True)
    parser.add_argument("command", nargs="?", metavar="COMMAND")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def _version() -> str:
    from flowtide import __version__

    return __version__


def command_parser(name: str) -> tuple[argparse.ArgumentParser, object]:
    import argparse
    import importlib

    module_name, text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(
        prog=f"flowtide {name}",
        description=getattr(module, "DESCRIPTION", text),
        formatter_class=_formatter(argparse.HelpFormatter),
    )
    _common(parser)
    module.configure(parser)
    return parser, module


def main(argv: list[str] | None = None) -> int:
    """Run one command; ``argv`` None: this process's own command line (the program ends after it)."""
    code = _main(list(sys.argv[1:] if argv is None else argv))
    if argv is None:
        # the process ends next: move what it made out of the cyclic collector's sight, so the
        # interpreter's exit does not traverse it all again (its collections cost ~10 ms after a
        # `run`, which imports the config and the engine). Files, locks and databases are closed
        # where they are used, atexit handlers still run and the streams are still flushed; only
        # garbage in reference cycles is left to the OS (whose __del__ Python never promises at
        # exit). Not done for an in-process call: the host goes on collecting as before.
        import gc

        gc.freeze()
    return code


# `flowtide COMMAND` alone: the namespace argparse makes for it, kept so that the commands a loop or a CI job
# runs bare need no parser (importing argparse and building two parsers: ~10 ms of a ~40 ms no-op `run`);
# tests/test_cli.py holds every entry equal to argparse's result
_BARE: dict[str, dict[str, object]] = {
    "pull": {"sources": [], "no_check": False, "progress": None, "json": False},
    "check": {
        "targets": [],
        "json": False,
        "md": False,
        "html": None,
        "reference": None,
        "fail_on_drift": False,
        "infer": None,
    },
    "run": {
        "stages": [],
        "jobs": 1,
        "force": False,
        "dry": False,
        "executor": None,
        "wait": None,
        "heartbeat": None,
        "json": False,
    },
    "status": {"json": False},
    "gate": {"json": False, "md": False, "html": None, "no_tests": False, "no_rescore": False},
    "models": {"words": [], "card": False, "last": 0, "all": False, "json": False},
    "push": {"jobs": None, "progress": False, "json": False},
    "fetch": {"targets": [], "jobs": None, "progress": False, "json": False},
    "doctor": {"json": False, "md": False, "strict": False},
}


class _Namespace:
    """What a command's ``run`` gets from argparse: its options as attributes (``argparse.Namespace``)."""

    def __init__(self, **options: object) -> None:
        self.__dict__.update(options)

    def __repr__(self) -> str:
        return f"Namespace({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


def _main(argv: list[str]) -> int:
    if argv in (["--help"], ["-h"]) and _columns() >= _HELP_MIN_COLUMNS:
        sys.stdout.write(help_text())
        return 0
    if len(argv) == 1 and argv[0] in _BARE:
        import importlib

        options = {key: list(value) if isinstance(value, list) else value for key, value in _BARE[argv[0]].items()}
        args = _Namespace(**options, project=None, debug=bool(os.environ.get("FLOWTIDE_DEBUG")))
        return run_command(importlib.import_module(COMMANDS[argv[0]][0]), args)
    top = _top_parser()
    ns = top.parse_args(argv)
    if not ns.command:
        top.print_help()
        return 2
    if ns.command not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(ns.command, COMMANDS, n=1)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        print(
            f"flowtide: unknown command {ns.command!r}.{hint} See `flowtide --help`.",
            file=sys.stderr,
        )
        return 2
    parser, module = command_parser(ns.command)
    args = parser.parse_args(ns.args)
    args.project = getattr(args, "project", None) or ns.project
    args.debug = getattr(args, "debug", False) or ns.debug or bool(os.environ.get("FLOWTIDE_DEBUG"))
    return run_command(module, args)


def run_command(module, args: argparse.Namespace) -> int:
    from flowtide.errors import FlowtideError

    try:
        code = module.run(args)
        return 0 if code is None else int(code)
    except FlowtideError as exc:
        if args.debug:
            import traceback

            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a bug: say so briefly, traceback only on request
        if args.debug:
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc}\nThis is a bug in flowtide; re-run with --debug for the traceback and report it.",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
