"""The registry snapshot: the replayed state `flowtide models` lists and the writers decide on, kept valid by appending.

``.flowtide/tmp/registry-snapshot-2.lines`` holds, per model, the version count, the
stage holders, the production history, the stage of every version that is not a
candidate, the versions that have been in staging, the number of stage moves, the
registered version numbers (as ranges) and the pre-encoded listing records of the
last SUMMARY_TAIL versions; on a line of its own (parsed only when needed) the byte
offset of each version's register line. Reading it is cheap at 100,000 versions.

It covers the registry's first ``covered`` bytes, and says so in two ways:

* ``stat``: the registry's (inode, size, mtime_ns, ctime_ns) right after the write
  that made the snapshot (as every memo: no checkout or user call sets a ctime);
  when it matches, the registry is not even read.
* ``proof``: BLAKE3 digests of consecutive byte ranges ending at ``covered``. When the
  stat differs (a hand edit, a ``git pull``, another tool's append) the covered
  bytes are hashed again; if they are still the file's first bytes, only the lines
  after them are parsed, validated and folded in. Anything else (a byte changed in
  the middle, a truncation, a version registered twice, a snapshot this code did
  not write) means a full replay of the log, which names a bad line. The snapshot
  is bound to the registry's inode and to the (inode, ctime) of a witness file
  created once beside it: a snapshot that came with a checkout or from another
  clone cannot match, so a forged state is never built upon.

Writers (register, promote, rollback) fold their event in after appending it: they
hash only the new line, so a write stays O(1) in the registry's size and the next
listing is warm.
"""

from __future__ import annotations

import bisect
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FlowtideError, UsageError
from .log import (
    _SUMMARY_VERSION,
    REGISTRY_FILE,
    SUMMARY_TAIL,
    Registry,
    Version,
    _brief_json,
    _Entry,
    _model_summary,
    _parse_events,
    _read_full_memo,
    _replay_tail,
    _write_full_memo,
    parse_version,
)

if TYPE_CHECKING:
    from ..project import Project

FORMAT = 2
NAME = f"registry-snapshot-{FORMAT}.lines"
_STAGES = {"staging", "production", "archived"}  # a snapshot holds the stage of the versions not candidates
MAX_PROOF = 32  # ranges in the proof before a writer hashes the whole file into one again


class _Stale(Exception):
    """The snapshot cannot be extended by these lines: replay the whole log."""


def _stat(path: Path) -> list[int]:
    st = os.stat(path)
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _digest(data: bytes | memoryview) -> str:
    from ..hashing import new_hasher

    return new_hasher(len(data)).update(data).hexdigest()


def _empty() -> dict[str, Any]:
    return {
        "count": 0,
        "production": None,
        "staging": None,
        "history": [],
        "moves": 0,
        "ranges": [],
        "stages": {},
        "staged": [],
        "tail": [],
    }


class Snapshot:
    """The registry's state as of its first ``covered`` bytes."""

    def __init__(self, path: Path, memo: Path) -> None:
        self.path = path
        self.memo = memo
        self.models: dict[str, dict[str, Any]] = {}
        self.records: dict[str, list[str]] = {}  # per model, aligned with models[m]["tail"]
        self.covered = 0
        self.proof: list[list] = []
        self.stat: list[int] | None = None
        self.inode: int | None = None  # the registry's, as read from the saved snapshot
        self.registry: Registry | None = None  # set when this process replayed the whole log
        self._offsets: dict[str, list[int]] | None = None
        self._offsets_raw: bytes | None = b"{}"

    # -- offsets of register lines (parsed on first use) ------------------------

    @property
    def offsets(self) -> dict[str, list[int]] | None:
        """Per model, the byte offset of each version's register line, in version order. Checked where used
        (the line there must be that version's register event), so only the shape is checked here."""
        if self._offsets is None and self._offsets_raw is not None:
            try:
                data = json.loads(self._offsets_raw)
                if not isinstance(data, dict) or not all(
                    isinstance(o, list) and len(o) == (self.models.get(m) or _empty())["count"] for m, o in data.items()
                ):
                    raise ValueError("offsets")
                self._offsets = data
            except (ValueError, TypeError, RecursionError):
                self._offsets_raw = None
        return self._offsets

    def _rank(self, model: str, number: int) -> int:
        """How many registered versions of ``model`` are below ``number``."""
        rank = 0
        for lo, hi in self.models[model]["ranges"]:
            if number <= hi:
                return rank + max(0, number - lo)
            rank += hi - lo + 1
        return rank

    def _drop_offsets(self) -> None:
        self._offsets, self._offsets_raw = None, None

    # -- building -----------------------------------------------------------------

    @classmethod
    def build(cls, path: Path, memo: Path, raw: bytes) -> Snapshot:
        """A full replay of ``raw`` (validated: raises ConfigError naming the line)."""
        registry = Registry(path, _parse_events(raw, path))
        snap = cls(path, memo)
        snap.registry = registry
        moves: dict[str, int] = {}
        for event in registry.events:
            if event.get("event") != "register":
                moves[event["model"]] = moves.get(event["model"], 0) + 1
        for model in registry._versions:
            versions = registry.versions(model)
            numbers = [v.version for v in versions]
            production, staging = registry.in_stage(model, "production"), registry.in_stage(model, "staging")
            snap.models[model] = {
                "count": len(versions),
                "production": production.version if production else None,
                "staging": staging.version if staging else None,
                "history": list(registry._production_history.get(model, [])),
                "moves": moves.get(model, 0),
                "ranges": _ranges(numbers),
                "stages": {str(v.version): v.stage for v in versions if v.stage != "candidate"},
                "staged": [v.version for v in versions if v.staged],
                "tail": numbers[-SUMMARY_TAIL:],
            }
            snap.records[model] = [_brief_json(v) for v in versions[-SUMMARY_TAIL:]]
        starts = _line_starts(raw, 0)
        if len(starts) == len(registry.events):
            where: dict[tuple[str, int], int] = {}
            for start, event in zip(starts, registry.events, strict=True):
                if event.get("event") == "register":
                    where[(event["model"], event["version"])] = start
            offsets = {m: [where[(m, v.version)] for v in registry.versions(m)] for m in registry._versions}
            snap._offsets, snap._offsets_raw = offsets, None
        else:
            snap._drop_offsets()
        snap.covered = len(raw)
        snap.proof = [[len(raw), _digest(raw)]] if raw else []  # an empty file: the first append starts the proof
        return snap

    # -- folding one event (mirrors Registry._apply) ---------------------------------

    def has(self, model: str, number: Any) -> bool:
        state = self.models.get(model)
        if state is None or type(number) is not int:
            return False
        ranges = state["ranges"]
        index = bisect.bisect_right(ranges, number, key=lambda r: r[0]) - 1
        return index >= 0 and ranges[index][0] <= number <= ranges[index][1]

    def stage(self, model: str, number: int) -> str:
        return self.models[model]["stages"].get(str(number), "candidate")

    def fold(self, event: dict[str, Any], offset: int | None) -> None:
        model, kind = event["model"], event.get("event")
        state = self.models.setdefault(model, _empty())
        self.records.setdefault(model, [])
        if kind != "register":
            state["moves"] += 1
        if kind == "register":
            number = event["version"]
            if self.has(model, number):
                raise _Stale("a version registered twice")
            offsets = self.offsets if offset is not None else None
            if offsets is None:
                self._drop_offsets()
            else:
                offsets.setdefault(model, []).insert(self._rank(model, number), offset)
            _add_to_ranges(state["ranges"], number)
            state["count"] += 1
            tail = state["tail"]
            if len(tail) < SUMMARY_TAIL or number > tail[0]:
                index = bisect.bisect_left(tail, number)
                tail.insert(index, number)
                self.records[model].insert(index, _brief_json(Registry(self.path, [event]).get(model, number)))
                if len(tail) > SUMMARY_TAIL:
                    del tail[0], self.records[model][0]
            return
        number = event.get("version")
        if not self.has(model, number):
            return  # an event about an unknown version: the replay ignores it too
        if kind == "promote":
            to = event["to"]
            if to == "staging" and number not in state["staged"]:
                bisect.insort(state["staged"], number)
            if to == "production":
                state["history"].append(number)
            self._move(model, number, to)
        elif kind == "rollback":
            history, current = state["history"], event.get("from")
            if self.has(model, current) and current != number:
                self._move(model, current, "archived")
            while history and history[-1] == current:
                history.pop()
            if not history or history[-1] != number:
                history.append(number)
            self._move(model, number, "production")

    def _move(self, model: str, number: int, stage: str) -> None:
        state = self.models[model]
        old = self.stage(model, number)
        if old in ("staging", "production") and state[old] == number:
            state[old] = None
        if stage in ("staging", "production"):
            previous = state[stage]
            if previous is not None and previous != number:
                self._set_stage(model, previous, "archived")
            state[stage] = number
        self._set_stage(model, number, stage)

    def _set_stage(self, model: str, number: int, stage: str) -> None:
        state = self.models[model]
        if stage == "candidate":
            state["stages"].pop(str(number), None)
        else:
            state["stages"][str(number)] = stage
        tail = state["tail"]
        index = bisect.bisect_left(tail, number)
        if index < len(tail) and tail[index] == number:
            record = json.loads(self.records[model][index])
            record["stage"] = stage
            self.records[model][index] = json.dumps(record, sort_keys=True, default=str)

    # -- what the writers ask -------------------------------------------------------

    def latest(self, model: str) -> int:
        state = self.models.get(model)
        return state["ranges"][-1][1] if state and state["ranges"] else 0

    def get(self, model: str, spec: str | int) -> Version:
        """The version as a full replay gives it (its history holds its register event only)."""
        number = parse_version(spec)
        if self.registry is not None:
            return self.registry.get(model, number)
        if not self.has(model, number):
            if not (self.models.get(model) or _empty())["count"]:
                known = ", ".join(sorted(m for m, s in self.models.items() if s["count"])) or "none"
                raise UsageError(
                    f"model {model!r} has no registered versions in {self.path.name} (models: {known})",
                    hint="Run `flowtide register` after training.",
                )
            raise UsageError(f"model {model!r} has no version {number} (latest is v{self.latest(model)})")
        event = self._register_event(model, number)
        if event is None:  # no usable offset: replay the log (validated), and keep what it gives from now on
            fresh = Snapshot.build(self.path, self.memo, self.path.read_bytes())
            fresh.stat = _stat(self.path) if fresh.covered == _stat(self.path)[1] else None
            fresh.inode = self.inode
            self.__dict__.update(fresh.__dict__)
            return self.registry.get(model, number)
        version = Registry(self.path, [event]).get(model, number)
        version.stage = self.stage(model, number)
        version.staged = number in self.models[model]["staged"]
        return version

    def _register_event(self, model: str, number: int) -> dict[str, Any] | None:
        offsets = (self.offsets or {}).get(model) or []
        rank = self._rank(model, number)
        offset = offsets[rank] if rank < len(offsets) else None
        if type(offset) is not int or not 0 <= offset < self.covered:
            return None
        try:
            with open(self.path, "rb") as handle:
                handle.seek(offset)
                line = handle.readline(self.covered - offset)
            event = json.loads(line)
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(event, dict) or (event.get("event"), event.get("model"), event.get("version")) != (
            "register",
            model,
            number,
        ):
            return None
        return event

    def in_stage(self, model: str, stage: str) -> int | None:
        return (self.models.get(model) or {}).get(stage)

    def previous_production(self, model: str) -> int | None:
        state = self.models.get(model) or _empty()
        for number in reversed(state["history"]):
            if number != state["production"]:
                return number
        return None

    def moves(self, model: str) -> int:
        return (self.models.get(model) or _empty())["moves"]

    # -- the listing ----------------------------------------------------------------

    def listing(self) -> dict[str, dict[str, Any]]:
        out = {}
        for model, state in self.models.items():
            if state["count"]:
                records = self.records[model]
                rows = [[r.get(f) for f in _fields()] for r in json.loads("[" + ",".join(records) + "]")]
                out[model] = {
                    "production": state["production"],
                    "staging": state["staging"],
                    "count": state["count"],
                    "json": list(records),
                    "rows": rows,
                }
        return out

    # -- after a writer's append ---------------------------------------------------

    def appended(self, event: dict[str, Any], line: bytes, start: int) -> None:
        """Fold the event a writer appended as ``line`` at byte ``start``; save the snapshot if the file is
        exactly the covered bytes plus that line, else delete it (the next reader verifies and replays)."""
        if self.registry is not None:
            self.registry._apply(event)
        try:
            stat = _stat(self.path)
        except OSError:
            stat = None
        exact = stat is not None and start == self.covered and stat[1] == start + len(line)
        self.fold(event, start if exact else None)
        if not exact or (self.stat is not None and self.stat[0] != stat[0]):
            self._forget()  # something else wrote too (or a torn line was cut first)
            return
        self.covered = stat[1]
        self.proof.append([self.covered, _digest(line)])
        if len(self.proof) > MAX_PROOF:
            self.proof = [[self.covered, _digest(self.path.read_bytes()[: self.covered])]]
        self.stat = stat
        self.save()

    def _forget(self) -> None:
        try:
            self.memo.unlink()
        except OSError:
            pass

    # -- the file -----------------------------------------------------------------

    def save(self) -> None:
        header = {
            "format": FORMAT,
            "inode": self.stat[0] if self.stat else os.stat(self.path).st_ino,
            "stat": self.stat,
            "covered": self.covered,
            "proof": self.proof,
            "models": self.models,
        }
        if self._offsets is not None:
            offsets = json.dumps(self._offsets, separators=(",", ":")).encode()
        else:
            offsets = self._offsets_raw or b"null"
        records = "\n".join(r for model in self.models for r in self.records.get(model, []))
        try:
            self.memo.parent.mkdir(exist_ok=True)
            temp = self.memo.with_name(f".{self.memo.name}.{os.getpid()}.tmp")
            header["witness"] = _witness(self.memo, create=True)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                text = json.dumps(header, separators=(",", ":")).encode() + b"\n" + offsets + b"\n"
                os.write(fd, text + records.encode("utf-8"))
            finally:
                os.close(fd)
            os.replace(temp, self.memo)
        except OSError:
            pass  # a read-only checkout still lists; it replays again next time

    @classmethod
    def read(cls, path: Path, memo: Path) -> Snapshot | None:
        """The saved snapshot, or None when absent or not what :meth:`save` writes (it is input: checked)."""
        try:
            with open(memo, "rb") as handle:
                raw = handle.read()
            first = raw.index(b"\n")
            second = raw.index(b"\n", first + 1)
            header = json.loads(raw[:first])
            body = raw[second + 1 :]
            records = body.decode("utf-8").split("\n") if body else []
            snap = cls(path, memo)
            if header.get("format") != FORMAT or header.get("witness") != _witness(memo, create=False):
                return None
            snap.covered, snap.proof, snap.stat = header["covered"], header["proof"], header["stat"]
            snap.inode = header["inode"]
            if type(snap.covered) is not int or not isinstance(snap.proof, list) or not snap.proof:
                return None
            end = 0
            for item in snap.proof:
                if not (isinstance(item, list) and len(item) == 2 and type(item[0]) is int and item[0] > end):
                    return None
                if not (isinstance(item[1], str) and len(item[1]) == 64):
                    return None
                end = item[0]
            if end != snap.covered or not (snap.stat is None or _ints(snap.stat, 4)):
                return None
            offset = 0
            for model, state in header["models"].items():
                if not _state_ok(state):
                    return None
                count = len(state["tail"])
                snap.records[model] = records[offset : offset + count]
                offset += count
            if offset != len(records):
                return None
            snap.models = header["models"]
            offsets = raw[first + 1 : second]
            snap._offsets_raw = None if offsets == b"null" else offsets
            return snap
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return None


def _witness(memo: Path, *, create: bool) -> list[int] | None:
    """(inode, ctime_ns) of a file created once next to the snapshot, which every snapshot records: no checkout
    or copy can give a file a chosen ctime, so a snapshot that came from elsewhere (force-added to git, copied
    from another clone, with or without its witness) never matches, whatever state it claims."""
    path = memo.with_name("registry-snapshot.witness")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if not create:
            return None
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            pass
        st = os.stat(path)
    return [st.st_ino, st.st_ctime_ns]


def _fields():
    from .log import BRIEF_FIELDS

    return BRIEF_FIELDS


def _ints(value: Any, n: int) -> bool:
    return isinstance(value, list) and len(value) == n and all(type(x) is int for x in value)


def _state_ok(state: Any) -> bool:
    if not isinstance(state, dict) or set(state) != set(_empty()):
        return False
    if type(state["count"]) is not int or type(state["moves"]) is not int:
        return False
    if not all(state[k] is None or type(state[k]) is int for k in ("production", "staging")):
        return False
    if not all(
        isinstance(state[k], list) and all(type(x) is int for x in state[k]) for k in ("history", "staged", "tail")
    ):
        return False
    if state["tail"] != sorted(set(state["tail"])) or state["staged"] != sorted(set(state["staged"])):
        return False
    stages = state["stages"]  # 10,000 entries at 100,000 versions: checked without a Python-level loop
    if not isinstance(stages, dict) or not set(stages.values()) <= _STAGES or not all(map(str.isdigit, stages)):
        return False
    previous = 0
    for r in state["ranges"]:
        if not _ints(r, 2) or not previous < r[0] <= r[1]:
            return False
        previous = r[1] + 1
    return sum(r[1] - r[0] + 1 for r in state["ranges"]) == state["count"]


def _ranges(numbers: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for n in numbers:
        if out and out[-1][1] + 1 == n:
            out[-1][1] = n
        else:
            out.append([n, n])
    return out


def _add_to_ranges(ranges: list[list[int]], n: int) -> None:
    """Insert ``n`` (not registered yet, so in no range) and merge it with an adjacent neighbour."""
    index = bisect.bisect_right(ranges, n, key=lambda r: r[0])
    ranges.insert(index, [n, n])
    window = ranges[max(0, index - 1) : index + 2]
    out: list[list[int]] = []
    for lo, hi in window:
        if out and out[-1][1] + 1 == lo:
            out[-1][1] = hi
        else:
            out.append([lo, hi])
    ranges[max(0, index - 1) : index + 2] = out


def _line_starts(raw: bytes, base: int) -> list[int]:
    """Byte offsets (from ``base``) of the lines of ``raw`` that hold something, as _parse_events counts them."""
    starts, offset = [], base
    for line in raw.split(b"\n"):
        if line.strip():
            starts.append(offset)
        offset += len(line) + 1
    return starts


def load(project: Project, *, save: bool = True) -> Snapshot | None:
    """The snapshot of the registry as it is now: as saved (stat unchanged), extended by the lines appended
    since (covered bytes unchanged), or rebuilt by a full replay. None when there is no registry."""
    path = project.root / REGISTRY_FILE
    memo = project.state_dir / "tmp" / NAME
    try:
        stat = _stat(path)
    except FileNotFoundError:
        return None
    snap = Snapshot.read(path, memo)
    if snap is not None and snap.stat == stat and snap.covered == stat[1]:
        return snap
    raw = path.read_bytes()
    stat = _stat(path)
    extended = _extend(snap, raw, stat) if snap is not None else None
    if extended is None:
        extended = Snapshot.build(path, memo, raw)
    extended.stat = stat if stat[1] == len(raw) else None
    if save and project.state_dir.is_dir():
        extended.save()
    return extended


def _extend(snap: Snapshot, raw: bytes, stat: list[int]) -> Snapshot | None:
    covered = snap.covered
    if getattr(snap, "inode", None) != stat[0] or not 0 < covered <= len(raw) or raw[covered - 1] != 10:
        return None
    from ..hashing import new_hasher

    view, start = memoryview(raw), 0
    whole = new_hasher(len(raw))
    for end, digest in snap.proof:
        if len(snap.proof) == 1:
            whole.update(view[:end])
            if whole.hexdigest() != digest:
                return None
        else:
            if _digest(view[start:end]) != digest:
                return None
            whole.update(view[start:end])
        start = end
    whole.update(view[covered:])
    tail = raw[covered:]
    try:
        events = _parse_events(tail, snap.path)
        starts = _line_starts(tail, covered)
        aligned = len(starts) == len(events)
        for index, event in enumerate(events):
            snap.fold(event, starts[index] if aligned else None)
    except (_Stale, FlowtideError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None  # the full replay decides, and names the line if the file is at fault
    snap.covered = len(raw)
    snap.proof = [[len(raw), whole.hexdigest()]]
    return snap


def summary(project: Project, *, full: bool = False) -> dict[str, dict[str, Any]]:
    """Per model: who holds staging / production, the version count, and rows of recent versions.

    ``rows`` are BRIEF_FIELDS value lists (turn them into dicts with :func:`briefs`) and
    ``json`` the same records pre-encoded. Without ``full`` only the last
    SUMMARY_TAIL versions are included, from the registry snapshot
    (:mod:`flowtide.registry.snapshot`) that register/promote/rollback keep valid, so
    `flowtide models` stays at start-up cost after a write. With ``full`` (``--json``,
    ``--all``, ``--last`` above SUMMARY_TAIL) every record comes from a second, larger
    memo: slower at 100,000 versions (it reads ~50 MB). The full memo holds only the
    pre-encoded records (JSON strings parse fastest); its ``rows`` are decoded from them
    when first asked for.

    After an append (``register``, ``promote``) the full memo is brought up to date
    by replaying only the new lines over it (:func:`_replay_tail`), so the first
    listing after a write does not replay the whole history.
    """
    from .. import memo

    path = project.root / REGISTRY_FILE
    if not path.exists():
        return {}
    full_name = f"registry-full-{_SUMMARY_VERSION}"
    full_memo = project.state_dir / "tmp" / f"{full_name}.lines"

    def everything() -> dict[str, Any]:
        from ..hashing import new_hasher

        raw = path.read_bytes()
        inode = os.stat(path).st_ino
        hasher, hashed = new_hasher(len(raw)), 0

        def digest_to(end: int) -> str:
            """BLAKE3 of raw[:end], ``end`` never decreasing: the memo's check and the new memo hash the bytes once."""
            nonlocal hashed
            hasher.update(memoryview(raw)[hashed:end])
            hashed = end
            return hasher.hexdigest()

        models = _replay_tail(full_memo, path, raw, inode, digest_to)
        if models is None:
            registry = Registry(path, _parse_events(raw, path))
            models = {model: _model_summary(registry, model, registry.versions(model)) for model in registry.models()}
        return {"inode": inode, "covered": len(raw), "digest": digest_to(len(raw)), "models": models}

    def load_full() -> dict[str, dict[str, Any]]:
        line = memo.stamp(path, full_name)
        found = _read_full_memo(full_memo)
        if found is not None and found[0] == line:
            data = found[1]
        else:
            data = everything()
            if project.state_dir.is_dir():
                _write_full_memo(full_memo, line, data)
        return {model: _Entry(entry) for model, entry in data["models"].items()}

    if full:
        return load_full()

    snap = load(project)  # the default listing: the snapshot the writers keep valid (see snapshot.py)
    return snap.listing() if snap is not None else {}
