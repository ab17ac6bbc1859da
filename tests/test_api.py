"""The package's public API (`flowtide.__all__`): each name is what it says, whatever was imported before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import flowtide

PACKAGE = Path(flowtide.__file__).parent


def test_no_submodule_is_named_like_a_public_name():
    # importing a submodule sets it as an attribute of the package, replacing a lazily resolved name
    clashes = [name for name in flowtide.__all__ if (PACKAGE / f"{name}.py").exists() or (PACKAGE / name).is_dir()]
    assert clashes == []


def test_pull_and_init_are_the_functions_after_their_modules_and_commands_are_imported():
    script = (
        "import flowtide.data.pull, flowtide.cli.pull, flowtide.cli.init, flowtide.scaffold\n"
        "import flowtide.cli.pull as command\n"
        "command.configure(__import__('argparse').ArgumentParser())\n"
        "from flowtide import pull, init, Lock, Store, Project, Config, load_config, FlowtideError\n"
        "import flowtide\n"
        "print(','.join(type(getattr(flowtide, n)).__name__ for n in flowtide.__all__ if n != '__version__'))\n"
        "print(pull.__module__, pull.__name__, init.__module__, init.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split("\n")
    assert "module" not in out[0].split(","), out[0]
    assert out[1] == "flowtide.data.pull pull flowtide.scaffold init"


def test_every_public_name_resolves():
    for name in flowtide.__all__:
        assert getattr(flowtide, name) is not None
    assert callable(flowtide.pull) and callable(flowtide.init)
