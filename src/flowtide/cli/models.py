"""`flowtide models`: list model versions, stages and lineage; `models show MODEL VERSION` for one."""

from __future__ import annotations

import sys

from ._output import add_json_flag, load_project, print_json

DESCRIPTION = (
    "List registered model versions with their stage, artifact hash and gate verdict "
    "(`flowtide models [MODEL]`), or show one version's lineage (`flowtide models show MODEL VERSION [--card]`)."
)


def configure(parser) -> None:
    parser.add_argument(
        "words", nargs="*", metavar="MODEL | show MODEL VERSION", help="a model name, or show MODEL VERSION"
    )
    parser.add_argument("--card", action="store_true", help="with show: print the Markdown model card")
    parser.add_argument("--last", type=int, default=0, metavar="N", help="only the N most recent versions")
    add_json_flag(parser)


def run(args) -> int:
    from flowtide.errors import UsageError
    from flowtide.registry import Registry

    project = load_project(args)
    registry = Registry.load(project)
    words = list(args.words)
    if words and words[0] == "show":
        if len(words) != 3:
            raise UsageError("usage: flowtide models show MODEL VERSION [--card] [--json]")
        return _show(project, registry, words[1], words[2], args)
    if len(words) > 1:
        raise UsageError("usage: flowtide models [MODEL] [--json] (or: flowtide models show MODEL VERSION)")
    names = [words[0]] if words else registry.models()
    if words and not registry.versions(words[0]):
        registry.get(words[0], 1)  # raises the "no such model" message
    listing = {}
    for name in names:
        versions = registry.versions(name)
        if args.last:
            versions = versions[-args.last :]
        listing[name] = versions
    if args.json:
        print_json({name: [_brief(v) for v in versions] for name, versions in listing.items()})
        return 0
    if not listing:
        print(f"no model versions registered yet in {registry.path.name}; run `flowtide register` after training")
        return 0
    out = []
    for name, versions in listing.items():
        production = registry.in_stage(name, "production")
        staging = registry.in_stage(name, "staging")
        out.append(f"{name}: {len(versions)} version(s); production {_v(production)}, staging {_v(staging)}")
        rows = [["version", "stage", "created", "hash", "gates", "metrics", "commit"]]
        for v in versions:
            metrics = ", ".join(
                f"{k}={val:.4g}" if isinstance(val, float) else f"{k}={val}" for k, val in list(v.metrics.items())[:3]
            )
            rows.append(
                [
                    f"v{v.version}",
                    v.stage,
                    v.created,
                    v.hash[:12],
                    "passed" if v.gates.get("passed") else "failed" if v.gates.get("evaluated", True) else "not run",
                    metrics,
                    (v.commit or "")[:8] + ("+" if v.dirty else ""),
                ]
            )
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
        out += ["  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def _v(version) -> str:
    return f"v{version.version}" if version else "none"


def _brief(v) -> dict:
    return {
        "version": v.version,
        "stage": v.stage,
        "hash": v.hash,
        "size": v.size,
        "format": v.format,
        "created": v.created,
        "created_by": v.created_by,
        "commit": v.commit,
        "dirty": v.dirty,
        "tag": v.tag,
        "gates_passed": bool(v.gates.get("passed")),
        "metrics": v.metrics,
    }


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
        lines.append(f"    {event.get('at')}  {what}  by {event.get('by')}{reason}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
