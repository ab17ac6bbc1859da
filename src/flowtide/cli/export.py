"""`flowtide export mlflow`: copy runs and registered versions to an MLflow tracking server."""

from __future__ import annotations

from ._output import add_json_flag, load_project, print_json

DESCRIPTION = (
    "Export to MLflow (extra `mlflow`): pipeline runs with params and metrics, registered versions as "
    "MLflow model versions, and stages as the aliases `staging` / `production`. Re-running sends only what is new."
)


def configure(parser) -> None:
    sub = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    mlflow = sub.add_parser("mlflow", help="an MLflow tracking server", description=DESCRIPTION)
    mlflow.add_argument("--tracking-uri", metavar="URI", help="tracking server (default $MLFLOW_TRACKING_URI)")
    add_json_flag(mlflow)


def run(args) -> int:
    from flowtide.export import export_mlflow

    project = load_project(args)
    result = export_mlflow(project, args.tracking_uri)
    if args.json:
        print_json(result.to_dict())
        return 0
    print(
        f"exported to {result.tracking_uri} (experiment {result.experiment_id}): "
        f"{len(result.runs_created)} new run(s), {len(result.runs_skipped)} already there; "
        f"{len(result.versions_created)} new model version(s), {len(result.versions_skipped)} already there"
    )
    if result.versions_missing:
        print(
            f"  not sent (artifact in neither the store nor the working copy): {', '.join(result.versions_missing)}; "
            "run `flowtide fetch` and export again"
        )
    for model, aliases in result.aliases.items():
        shown = ", ".join(f"{stage}=v{v}" for stage, v in aliases.items()) or "no aliases"
        print(f"  {model}: {shown}")
    return 0
