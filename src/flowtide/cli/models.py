"""`flowtide models`: list model versions, stages and lineage; `models show MODEL VERSION` for one."""

from __future__ import annotations

import json
import sys

from ._output import add_json_flag, load_project, print_json

_DEFAULT_LAST = 50

DESCRIPTION = (
    "List registered model versions with their stage, artifact hash and gate verdict "
    "(`flowtide models [MODEL]`), or show one version's lineage (`flowtide models show MODEL VERSION [--card]`)."
)


def configure(parser) -> None:
    parser.add_argument(
        "words", nargs="*", metavar="MODEL | show MODEL VERSION", help="a model name, or show MODEL VERSION"
    )
    parser.add_argument("--card", action="store_true", help="with show: print the Markdown model card")
    parser.add_argument(
        "--last", type=int, default=0, metavar="N", help=f"only the N most recent versions (default {_DEFAULT_LAST})"
    )
    parser.add_argument("--all", action="store_true", help="every version (the default with --json)")
    add_json_flag(parser)


def run(args) -> int:
    from flowtide.errors import UsageError
    from flowtide.registry import SUMMARY_TAIL, Registry, briefs, summary

    project = load_project(args)
    words = list(args.words)
    if words and words[0] == "show":
        if len(words) != 3:
            raise UsageError("usage: flowtide models show MODEL VERSION [--card] [--json]")
        return _show(project, Registry.load(project), words[1], words[2], args)
    if len(words) > 1:
        raise UsageError("usage: flowtide models [MODEL] [--json] (or: flowtide models show MODEL VERSION)")
    last = args.last or (0 if args.all or args.json else _DEFAULT_LAST)
    state = summary(project, full=not last or last > SUMMARY_TAIL)
    if words and words[0] not in state:
        Registry.load(project).get(words[0], 1)  # raises the "no such model" message
    names = [words[0]] if words else sorted(state)
    if args.json:
        # one version per line through the C encoder: indent= would switch json to its slow pure-Python path
        parts = []
        for name in names:
            encoded = state[name]["json"][-last:] if last else state[name]["json"]
            lines = ",\n".join("    " + line for line in encoded)
            parts.append(f"  {json.dumps(name)}: [\n{lines}\n  ]" if lines else f"  {json.dumps(name)}: []")
        sys.stdout.write("{\n" + ",\n".join(parts) + "\n}\n" if parts else "{}\n")
        return 0
    if not names:
        print("no model versions registered yet in flowtide.registry; run `flowtide register` after training")
        return 0
    import shutil

    from flowtide.report.layout import render

    from ._output import DIRTY_NOTE, commit_label

    # plain text, the one table layout, without rich: `models` stays as quick to start as `register`
    width = shutil.get_terminal_size().columns
    out: list[str] = []
    dirty = False
    for name in names:
        entry = state[name]
        count = entry["count"]
        shown = briefs(entry["rows"][-last:] if last else entry["rows"])
        title = f"{name}: {count} version(s); production {_v(entry['production'])}, staging {_v(entry['staging'])}"
        rows = []
        for v in shown:
            metrics = ", ".join(f"{k}={_num(val)}" for k, val in list(v["metrics"].items())[:3])
            gates = "passed" if v["gates_passed"] else "failed" if v["gates_evaluated"] else "not run"
            dirty = dirty or bool(v["dirty"])
            rows.append(
                [
                    f"v{v['version']}",
                    v["stage"],
                    v["created"],
                    v["hash"][:12],
                    gates,
                    commit_label(v["commit"], v["dirty"]),
                    metrics,
                ]
            )
        columns = ["version", "stage", "created", "hash", "gates", "commit", "metrics"]
        out += [title, render(columns, rows, width, keep=["version", "created", "hash", "commit"], under=["metrics"])]
        if len(shown) < count:
            out.append(f"… {count - len(shown):,} older version(s): --all or --last N to see them")
    if dirty:
        out.append(DIRTY_NOTE)
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def _num(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _v(number) -> str:
    return f"v{number}" if number else "none"


def _who(event: dict) -> str:
    """The actor of an event, with who triggered the CI run when that was someone else."""
    who = str(event.get("by") or "unknown")
    if event.get("workflow"):
        who += f" (workflow {event['workflow']})"
    if event.get("triggered_by"):
        who += f", triggered by {event['triggered_by']}"
    return who


def _show(project, registry, model: str, spec: str, args) -> int:
    version = registry.get(model, spec)
    if args.card:
        from flowtide.formats import model_card

        card = model_card(project, version)
        if args.json:
            print_json({"card": card})
        else:
            sys.stdout.write(card)
        return 0
    if args.json:
        print_json(version.to_dict())
        return 0
    lines = [
        f"{version.model} v{version.version} ({version.stage})",
        f"  artifact  {version.path} blake3:{version.hash} ({version.size:,} bytes, {version.format})",
        f"  commit    {version.commit or 'none'}{' (dirty)' if version.dirty else ''}   tag {version.tag}",
        f"  created   {version.created} by {version.created_by}" + (f"  {version.run_url}" if version.run_url else ""),
        f"  gates     {'passed' if version.gates.get('passed') else 'NOT passed'}",
    ]
    for rule in version.gates.get("rules", []):
        lines.append(f"    {rule.get('status'):5} {rule.get('rule')}: {rule.get('message')}")
    if version.gates.get("message"):
        lines.append(f"    {version.gates['message']}")
    lines.append("  metrics   " + ", ".join(f"{k}={v}" for k, v in sorted(version.metrics.items())))
    lines.append("  data")
    lines += [f"    {path}  {digest[:12]}" for path, digest in sorted(version.data.items())]
    lines.append("  history")
    for event in version.history:
        what = event.get("event")
        if what == "promote":
            what = f"promote {event.get('from')} -> {event.get('to')}" + (" (forced)" if event.get("forced") else "")
        elif what == "rollback":
            what = (
                f"rollback from v{event.get('from')}"
                if event.get("version") == version.version
                else f"rolled back to v{event.get('version')}"
            )
        reason = f"  ({event['reason']})" if event.get("reason") else ""
        lines.append(f"    {event.get('at')}  {what}  by {_who(event)}{reason}")
        if event.get("run_url"):
            lines.append(f"      run {event['run_url']}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
