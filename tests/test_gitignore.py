"""gitignore.ignore: anchored lines for what git does not ignore yet, judged by the repository's own .gitignore."""

from __future__ import annotations

from pathlib import Path

from flowtide.gitignore import ignore

from .conftest import git


def test_only_what_the_repository_does_not_ignore_yet_is_added(git_repo: Path):
    (git_repo / ".gitignore").write_text("*.log\nmodels/\n*.skops\n!keep.skops\n")
    (git_repo / "sub").mkdir()
    (git_repo / "sub" / ".gitignore").write_text("cache/\n")
    wanted = ["models/m.bin", "a.skops", "keep.skops", "data/out.csv", "sub/cache/x", "data/out.csv", "/b/"]
    assert ignore(git_repo, wanted, "outputs") == ["/keep.skops", "/data/out.csv", "/b"]
    assert (git_repo / ".gitignore").read_text() == (
        "*.log\nmodels/\n*.skops\n!keep.skops\n# outputs\n/keep.skops\n/data/out.csv\n/b\n"
    )
    assert ignore(git_repo, wanted, "outputs") == []  # idempotent


def test_a_personal_exclude_does_not_count_a_teammate_would_commit_it(git_repo: Path, tmp_path: Path):
    personal = tmp_path / "global-ignore"
    personal.write_text("*.parquet\n")
    git("config", "core.excludesFile", str(personal), cwd=git_repo)
    (git_repo / ".git" / "info" / "exclude").write_text("*.csv\n")
    assert ignore(git_repo, ["f.parquet", "d.csv"], "outputs") == ["/f.parquet", "/d.csv"]
    assert (git_repo / ".gitignore").read_text() == "# outputs\n/f.parquet\n/d.csv\n"


def test_outside_git_exact_lines_decide(tmp_path: Path):
    (tmp_path / ".gitignore").write_text("models/\n/data/a.csv")
    assert ignore(tmp_path, ["models", "data/a.csv", "models/m.bin"], "outputs") == ["/models/m.bin"]
    assert (tmp_path / ".gitignore").read_text() == "models/\n/data/a.csv\n# outputs\n/models/m.bin\n"
    assert ignore(tmp_path, ["../elsewhere", "."], "outputs") == []  # not this .gitignore's to say
