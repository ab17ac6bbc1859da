"""`flowtide init`: scaffold a flowtide project (or the weather example) in a git repository."""

from __future__ import annotations

from ._output import add_json_flag, print_json

DESCRIPTION = (
    "Write a commented flowtide.yaml, params.yaml, a Makefile (install / lint / test / format / all and "
    "pull / check / run / gate), a .gitignore for .flowtide/ and the stage outputs, a tests/ skeleton and "
    "the GitHub Actions workflows into DIR (default: the current directory; created and `git init`ed if it "
    "is not in a repository). Existing files are never overwritten without --force. In an existing "
    "repository, its pytest and ruff settings stay in charge (no pytest.ini or ruff.toml beside them) and "
    "its Makefile only gains the targets the workflows call that it lacks."
)


def configure(parser) -> None:
    parser.add_argument("directory", nargs="?", metavar="DIR", help="where to create the project (default: .)")
    parser.add_argument(
        "--example",
        metavar="NAME",
        help="scaffold a complete example project: weather (classification, CSV) or penguins (regression, Parquet)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite files that already exist")
    add_json_flag(parser)


def run(args) -> int:
    import os

    from flowtide.scaffold import init

    directory = args.directory
    if directory is None and args.project:
        directory = args.project
    elif directory is not None and args.project and not os.path.isabs(directory):
        directory = os.path.join(args.project, directory)
    result = init(directory, example=args.example, force=args.force)
    if args.json:
        print_json(result.to_dict())
        return 0
    if result.git_initialized:
        print(f"initialised a git repository in {result.root}")
    for rel in result.written:
        print(f"wrote    {rel}")
    for rel in result.updated:
        reason = result.reasons.get(rel)
        print(f"updated  {rel}" + (f" ({reason})" if reason else ""))
    for rel in result.skipped:
        print(f"skipped  {rel} (exists; --force to overwrite)")
    for sentence in result.kept:
        print(f"kept     {sentence}")
    for sentence in result.notes:
        print(f"note     {sentence}")
    if args.example:
        from flowtide.extras import EXTRAS, install_line, missing

        # the example's stages train with scikit-learn and save skops models, which flowtide serves
        lacking = missing("examples", EXTRAS["sklearn"] + EXTRAS["serve"])
        if lacking:
            print(f"note     the example trains and serves with {', '.join(lacking)}: {install_line('examples')}")
    what = f"example project {args.example!r}" if args.example else "flowtide project"
    print(f"{what} ready in {result.root}")
    if result.written:
        print("next: edit flowtide.yaml, then `flowtide pull` and commit flowtide.yaml, flowtide.lock and the rest")
    return 0
