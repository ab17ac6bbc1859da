"""`flowtide ci generate | check | simulate`: the GitHub Actions workflows, written, verified and dry-run."""

from __future__ import annotations

import argparse
import os
import sys

from ._output import add_json_flag, load_project, print_json

DESCRIPTION = (
    "Generate the CI files from flowtide.yaml (GitHub Actions workflows ci, data, train, deploy, monitor; or "
    "GitLab's .gitlab-ci.yml, with ci.provider: gitlab), check that they are up to date and valid, and simulate "
    "which workflows and jobs an event fires (optionally running them locally with nektos/act or gitlab-ci-local)."
)


def configure(parser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    gen = sub.add_parser(
        "generate",
        help="write the CI files from flowtide.yaml (.github/workflows/*.yml, or .gitlab-ci.yml with ci.provider: gitlab)",
        description="Write the workflows (ci, data, train, deploy and, with a model, monitor) into "
        ".github/workflows/ (and .github/dependabot.yml, so their pinned actions stay current) from flowtide.yaml; "
        "with ci.provider: gitlab (or --provider gitlab), .gitlab-ci.yml instead. Files that would not change are "
        "left alone. Commit them.",
    )
    add_json_flag(gen)
    chk = sub.add_parser(
        "check",
        help="exit 1 when the CI files are out of date or invalid (actionlint, zizmor; check-jsonschema for GitLab)",
        description="Compare .github/workflows/ with what `flowtide ci generate` would write (a short diff per "
        "file) and validate them with actionlint and zizmor when installed; exit 1 when a file is missing, edited "
        "or invalid.",
    )
    add_json_flag(chk)
    chk.add_argument("--no-lint", action="store_true", help="do not run actionlint even if it is installed")
    sim = sub.add_parser(
        "simulate",
        help="which workflows and jobs an event fires; --run executes them with act (gitlab-ci-local for GitLab)",
        description="Say which workflows and jobs an event (push, pull_request, schedule, workflow_dispatch) "
        "fires for the changed paths and branch; with --run, execute them locally with nektos/act, offline.",
    )
    sim.add_argument("event", choices=["push", "pull_request", "schedule", "workflow_dispatch"])
    sim.add_argument("--paths", nargs="+", metavar="PATH", help="changed files (for push / pull_request paths filters)")
    sim.add_argument(
        "--since", metavar="REV", help="changed files = `git diff --name-only REV...HEAD` (instead of --paths)"
    )
    sim.add_argument("--branch", metavar="NAME", help="branch pushed to, or the PR's base (default: ci.default_branch)")
    sim.add_argument(
        "--workflow",
        metavar="NAME",
        help="only this workflow (e.g. train or train.yml); the one dispatched; on GitLab: data or monitor, the "
        "FLOWTIDE_SCHEDULE of the scheduled or manual pipeline",
    )
    sim.add_argument(
        "--input", action="append", default=[], metavar="KEY=VALUE", help="workflow_dispatch input (repeatable)"
    )
    sim.add_argument("--run", action="store_true", help="run the fired workflows locally with nektos/act (offline)")
    sim.add_argument(
        "--no-isolate",
        dest="isolate",
        action="store_false",
        help="with --run: do not start act in a loopback-only network namespace (steps can reach the host's 127.0.0.1)",
    )
    sim.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME",
        help="with --run: pass the environment variable NAME to the jobs as secrets.NAME (repeatable)",
    )
    sim.add_argument(
        "--host-python",
        dest="fresh_python",
        action="store_false",
        help="with --run: jobs use the Python on PATH instead of a fresh virtualenv each (as a new runner has)",
    )
    add_json_flag(sim)
    sim.add_argument(
        "--manual",
        action="append",
        default=[],
        metavar="JOB",
        help="with --run on GitLab: play this manual job too (e.g. production: the approval; repeatable)",
    )
    for p in (gen, chk, sim):
        p.add_argument(
            "--provider",
            choices=["github", "gitlab", "forgejo"],
            default=None,
            help="the CI system (default: ci.provider in flowtide.yaml)",
        )
        p.add_argument(
            "-C", "--project", dest="project", metavar="DIR", default=argparse.SUPPRESS, help="run as if started in DIR"
        )


def run(args) -> int:
    return {"generate": _generate, "check": _check, "simulate": _simulate}[args.action](args)


def _generate(args) -> int:
    from flowtide.workflows.provider import generate

    result = generate(load_project(args), provider=args.provider)
    if args.json:
        print_json(result.to_dict())
        return 0
    for rel in result.changed:
        print(f"wrote {rel}")
    for rel in result.removed:
        print(f"removed {rel} (no longer generated from flowtide.yaml)")
    for rel in result.kept:
        print(f"kept    {rel} (yours: it has no flowtide header)")
    if not result.changed and not result.removed:
        print(f"{len(result.unchanged)} files already up to date")
    if any(rel.startswith(".github/") for rel in result.files) and not any(
        rel.endswith("/monitor.yml") for rel in result.files
    ):
        print("no monitor.yml: flowtide.yaml declares no model to monitor; it is written once a model: section exists")
    return 0


def _check(args) -> int:
    from flowtide.workflows.provider import check

    report = check(load_project(args), provider=args.provider, lint=not args.no_lint)
    if args.json:
        sys.stdout.write(report.to_json())
        return 0 if report.ok else 1
    for finding in report.findings:
        mark = "ok  " if finding.status == "pass" else "FAIL"
        print(f"{mark} {finding.target}: {finding.message}")
        if finding.details.get("diff"):
            print(finding.details["diff"], end="")
    print(
        "workflows up to date and valid"
        if report.ok
        else "workflows out of date or invalid: run `flowtide ci generate` (and see the messages above)"
    )
    return 0 if report.ok else 1


def _simulate(args) -> int:
    from flowtide.errors import UsageError
    from flowtide.workflows.provider import resolve, simulate
    from flowtide.workflows.provider import run as run_locally

    project = load_project(args)
    inputs = {}
    for item in args.input:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--input {item!r} must look like KEY=VALUE")
        inputs[key] = value
    paths = args.paths
    if args.since:
        from flowtide.workflows.simulate import changed_paths

        paths = [*(paths or []), *changed_paths(project, args.since)]
    provider = resolve(project.config, args.provider)
    result = simulate(project, args.event, provider=provider, paths=paths, branch=args.branch, workflow=args.workflow)
    if args.run:
        secrets = {}
        for name in args.secret:
            if name not in os.environ:
                raise UsageError(f"--secret {name}: no environment variable {name} to take its value from")
            secrets[name] = os.environ[name]
        options = {"manual": args.manual} if provider == "gitlab" else {"fresh_python": args.fresh_python}
        run_locally(project, result, provider=provider, inputs=inputs, isolate=args.isolate, secrets=secrets, **options)
    if args.json:
        print_json(result.to_dict())
    else:
        for line in result.lines():
            print(line)
        tool = "gitlab-ci-local" if provider == "gitlab" else "act"
        for record in result.runs:
            print(f"--- {tool} {args.event} {record['workflow']}: exit {record['returncode']}")
            print(record["output"], end="")
        if not result.fired:
            print(f"no workflow fires on {args.event}")
        if args.run and args.isolate and not result.ok:
            from flowtide.workflows.act import can_unshare  # gitlab-ci-local runs isolated the same way

            if can_unshare():
                print(
                    f"note: {tool} ran in a network namespace with only its own loopback (no package index "
                    "either); if a step must reach a server on this machine's 127.0.0.1, re-run with --no-isolate",
                    file=sys.stderr,
                )
    return 0 if result.ok else 1
