"""The project configuration: ``flowtide.yaml`` read, validated once at load, and memoised.

schema      the dataclasses (what the file may say)
duration    the one grammar for spans of time (Duration)
rules       the grammar of a ``gates:`` rule
positions   YAML text to plain values plus file:line:col of every key
messages    pydantic's findings as messages that say what to change
validate    every rule a type cannot say (names, paths, cron, durations, gates, CI)
cache       the stat-keyed disk memo (plain JSON, never executed)
load        find_root, load_config, parse_config, load_params, json_schema
"""

from __future__ import annotations

from .cache import cached_by_stat
from .duration import Duration
from .load import find_root, json_schema, load_config, load_params, parse_config
from .positions import parse_yaml
from .schema import (
    CI,
    CONFIG_FILE,
    LOCK_FILE,
    NULL_VALUES,
    STATE_DIR,
    Bounds,
    Canary,
    CheckSuite,
    ColumnCheck,
    Config,
    Deploy,
    DriftCheck,
    Freshness,
    Model,
    Monitor,
    MonitorDrift,
    MonitorPerformance,
    Source,
    Stage,
    StoreConfig,
)

__all__ = [
    "CI",
    "CONFIG_FILE",
    "LOCK_FILE",
    "NULL_VALUES",
    "STATE_DIR",
    "Bounds",
    "Canary",
    "CheckSuite",
    "ColumnCheck",
    "Config",
    "Deploy",
    "DriftCheck",
    "Duration",
    "Freshness",
    "Model",
    "Monitor",
    "MonitorDrift",
    "MonitorPerformance",
    "Source",
    "Stage",
    "StoreConfig",
    "cached_by_stat",
    "find_root",
    "json_schema",
    "load_config",
    "load_params",
    "parse_config",
    "parse_yaml",
]
