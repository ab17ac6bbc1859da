"""Read one section of params.yaml (the stages' shared helper; flowtide tracks the values they use)."""

from ruamel.yaml import YAML


def load(section: str) -> dict:
    with open("params.yaml") as handle:
        return dict(YAML(typ="safe").load(handle)[section])
