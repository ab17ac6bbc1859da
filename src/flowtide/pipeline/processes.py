"""Stage processes die with the runner: each ``cmd`` stage is a process group, watched from outside.

A ``cmd`` stage is a process tree (``sh -c "python train.py"``, its workers,
anything they start). Each stage starts as the leader of a new process group,
so one signal reaches the whole tree. The group is ended when the stage ends
(stragglers that let go of its output), when the runner is interrupted
(``terminate``, on Ctrl-C) and when the runner dies in any way, ``kill -9``
included: a small watchdog process, started once per runner process, reads a
pipe that only the runner holds open. At end of file it terminates every group
still registered and, on Linux, every process whose environment carries this
runner's token (a grandchild that left the group with setsid, or one started in
the instant between the fork and the registration).

Why not ``PR_SET_PDEATHSIG``: it reaches the direct child only (not the
grandchildren of ``sh -c``), fires when the *thread* that forked exits rather
than the process, and needs a ``preexec_fn``, which disables vfork and is unsafe
in a threaded runner.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable

from ..errors import FlowtideError

TOKEN_VARIABLE = "FLOWTIDE_RUNNER"
"""Set in every stage's environment: which runner process the stage belongs to."""

GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL when a stage is ended."""

# the watchdog runs as `python -I -S _watchdog.py`: no site, no flowtide import, ~10 ms beside the first stage
_WATCHDOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_watchdog.py")


class _Watchdog:
    """The helper process and the write end of its pipe."""

    def __init__(self, token: str) -> None:
        read, self.write = os.pipe()  # not inheritable: no stage holds the write end open
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", _WATCHDOG, token, str(GRACE)],
                stdin=read,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={},
                start_new_session=True,  # no Ctrl-C or hang-up of the terminal reaches it
            )
        except BaseException:
            os.close(self.write)
            raise
        finally:
            os.close(read)

    def send(self, line: str) -> None:
        os.write(self.write, line.encode())  # shorter than PIPE_BUF: atomic among threads

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.write)


class _Stages:
    """The process groups of the running stages of this process, registered with the watchdog."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[int, tuple[subprocess.Popen, threading.Thread]] = {}
        """pgid -> (leader, the thread that waits for it)"""
        self.cancelled: set[threading.Thread] = set()
        """Threads whose stages were ended by :func:`terminate`: a stage they start later is ended at once."""
        self.token = os.urandom(8).hex()
        self.watchdog: _Watchdog | None = None

    def watch(self) -> None:
        """Have a live watchdog before a stage starts (a runner killed right after the fork is covered too)."""
        with self.lock:
            if self.watchdog is not None and self.watchdog.proc.poll() is not None:
                self._replace()  # someone killed it
            if self.watchdog is None:
                self._replace()

    def add(self, proc: subprocess.Popen) -> None:
        with self.lock:
            if threading.current_thread() in self.cancelled:
                # the runner was interrupted while this thread was starting its stage (terminate
                # looked before the stage was here): ``start`` ends it at once
                raise KeyboardInterrupt
            self.running[proc.pid] = (proc, threading.current_thread())
            self._send(f"+{proc.pid}\n")

    def remove(self, proc: subprocess.Popen) -> None:
        with self.lock:
            if self.running.pop(proc.pid, None) is not None:
                self._send(f"-{proc.pid}\n")

    def _send(self, line: str) -> None:
        try:
            if self.watchdog is None:
                raise BrokenPipeError
            self.watchdog.send(line)
        except BrokenPipeError:  # the watchdog was killed since `watch`: a new one learns every group
            self._replace()

    def _replace(self) -> None:
        if self.watchdog is not None:
            self.watchdog.close()
            self.watchdog = None
        try:
            watchdog = _Watchdog(self.token)
        except OSError as exc:
            raise FlowtideError(
                f"could not start the watchdog that ends stages with the runner ({sys.executable}): {exc}",
                hint="flowtide runs it with the interpreter it runs on; check that it is still there.",
            ) from exc
        for pgid in self.running:
            watchdog.send(f"+{pgid}\n")
        self.watchdog = watchdog

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's stages and watchdog are not this process's."""
        if self.watchdog is not None:
            self.watchdog.close()
        self.__init__()


_STAGES = _Stages()
os.register_at_fork(after_in_child=_STAGES.forget_after_fork)


def start(argv: str | list[str], *, cwd: str, env: dict[str, str]) -> subprocess.Popen:
    """Start a stage command as the leader of a new process group that ends with this process."""
    _STAGES.watch()
    proc = subprocess.Popen(
        argv,
        shell=isinstance(argv, str),
        cwd=cwd,
        env={**env, TOKEN_VARIABLE: _STAGES.token},
        stdin=subprocess.DEVNULL,  # outside the terminal's foreground group a read would stop it (SIGTTIN)
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        process_group=0,  # (a setpgid between fork and exec: vfork still applies)
    )
    try:
        _STAGES.add(proc)
    except BaseException:
        end(proc, grace=0)
        raise
    return proc


def end(proc: subprocess.Popen, *, grace: float = GRACE) -> None:
    """End what is left of a stage's process group: SIGTERM, ``grace`` seconds, SIGKILL; then forget it.

    After a stage's leader exited on its own, whatever is left of its group is a
    straggler that could still write the stage's outputs: it gets SIGKILL at once.
    """
    try:
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace)
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        _STAGES.remove(proc)


def terminate(threads: Iterable[threading.Thread], grace: float = GRACE) -> None:
    """End the running stages that ``threads`` wait for (the runner was interrupted); the threads then finish."""
    owners = set(threads)
    with _STAGES.lock:
        _STAGES.cancelled.update(owners)
        procs = [proc for proc, thread in _STAGES.running.values() if thread in owners]
    for proc in procs:
        _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    # (the stages' threads reap them: only poll here)
    while any(proc.poll() is None for proc in procs) and time.monotonic() < deadline:
        time.sleep(0.02)
    for proc in procs:
        _signal_group(proc.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
