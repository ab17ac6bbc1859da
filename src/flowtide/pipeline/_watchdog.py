"""The watchdog of a runner's stages: ``python -I -S _watchdog.py TOKEN GRACE`` (see processes.py).

It reads ``+PGID`` / ``-PGID`` lines on stdin, a pipe only the runner holds
open. End of file means the runner is gone (exit, crash, SIGTERM, kill -9):
every registered group still alive, and every process whose environment
carries ``FLOWTIDE_RUNNER=TOKEN``, gets SIGTERM, then SIGKILL after GRACE
seconds. Standard library only: it must start in milliseconds.
"""

import os
import signal
import sys
import time


def read_groups(stream) -> set[int]:
    groups: set[int] = set()
    for line in stream:
        try:
            pgid = int(line[1:])
        except ValueError:
            continue
        if line[:1] == b"+":
            groups.add(pgid)
        else:
            groups.discard(pgid)
    return groups


def scan(groups: set[int], needle: bytes) -> list[int] | None:
    """Live members of ``groups`` and live carriers of the token; None without /proc."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    me = os.getpid()
    found = []
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                state, _ppid, pgrp = handle.read().rpartition(b")")[2].split()[:3]
            if state == b"Z":  # dead, waiting for its new parent to reap it
                continue
            if int(pgrp) in groups:
                found.append(int(name))
                continue
            with open(f"/proc/{name}/environ", "rb") as handle:
                if needle in b"\0" + handle.read():
                    found.append(int(name))
        except (OSError, ValueError):
            pass
    return found


def left(groups: set[int], needle: bytes) -> list[int]:
    found = scan(groups, needle)
    if found is not None:
        return found
    alive = []
    for pgid in groups:
        try:
            os.killpg(pgid, 0)
            alive.append(pgid)
        except OSError:
            pass
    return alive


def signal_all(groups: set[int], needle: bytes, sig: int) -> None:
    for pgid in groups:
        try:
            os.killpg(pgid, sig)
        except OSError:
            pass
    for pid in scan(groups, needle) or ():
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def main() -> None:
    token, grace = sys.argv[1], float(sys.argv[2])
    groups = read_groups(sys.stdin.buffer)
    needle = b"\0FLOWTIDE_RUNNER=" + token.encode() + b"\0"
    if not (groups or left(groups, needle)):
        return
    signal_all(groups, needle, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while left(groups, needle) and time.monotonic() < deadline:
        time.sleep(0.05)
    signal_all(groups, needle, signal.SIGKILL)


if __name__ == "__main__":
    main()
