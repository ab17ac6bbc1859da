"""`flowtide completion bash|zsh`: a static script from the parsers, exercised in a real bash."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from .conftest import run_cli


def _complete(script: str, *words: str) -> list[str]:
    line = " ".join(f"'{w}'" for w in words)
    program = (
        f'{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _flowtide; printf "%s\\n" "${{COMPREPLY[@]}}"'
    )
    out = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True, timeout=30).stdout
    return sorted(w for w in out.splitlines() if w)


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completes_commands_options_and_subcommands():
    result = run_cli("completion", "bash")
    assert result.code == 0
    script = result.out
    assert script.rstrip().endswith("complete -o default -F _flowtide flowtide")
    assert _complete(script, "flowtide", "ru") == ["run", "runs"]
    assert _complete(script, "flowtide", "gate", "--no") == ["--no-rescore", "--no-tests"]
    assert _complete(script, "flowtide", "-C", "proj", "ci", "ge") == ["generate"]
    assert "--no-lint" not in _complete(script, "flowtide", "ci", "generate", "--")  # each sub-command its own
    assert "--no-lint" in _complete(script, "flowtide", "ci", "check", "--")


def test_zsh_script_loads_through_bashcompinit_and_a_bad_shell_is_a_usage_error():
    zsh = run_cli("completion", "zsh").out
    assert zsh.startswith("#compdef flowtide\nautoload -U +X bashcompinit && bashcompinit\n")
    assert run_cli("completion", "fish").code == 2
