"""Executors: where a stage's command runs. One small contract, two built-in implementations.

``Executor.submit(task) -> future`` (``.result()``, ``.add_done_callback()``).
Executors are registered in the ``flowtide.executors`` entry-point group, the
built-ins exactly as a package adds its own (``executor:`` in flowtide.yaml).
:class:`LocalExecutor` runs ``cmd`` stages as subprocesses, one thread each
(at most ``jobs`` at once), and ``call`` stages in this process;
:class:`RayExecutor` (optional extra) runs each stage as a Ray task, on a
local instance or a cluster (``RAY_ADDRESS``).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import UsageError
from . import processes

if TYPE_CHECKING:
    import subprocess

TAIL_LINES = 20
# no quotes, variables, redirections, globs or an env assignment in front: the shell would change nothing
_PLAIN_COMMAND = re.compile(r"^[A-Za-z0-9_./+,:@%-]+( +[A-Za-z0-9_./+,:@%=-]+)*$")


@dataclass
class StageTask:
    """Everything needed to run one stage, picklable (it travels to Ray workers)."""

    name: str
    root: str
    cmd: str | None = None
    call: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    deps: list[str] = field(default_factory=list)
    outs: list[str] = field(default_factory=list)
    log: str | None = None
    """File that receives the stage's stdout and stderr."""


@dataclass
class TaskResult:
    name: str
    ok: bool
    returncode: int
    seconds: float
    stdout: str = ""
    stderr_tail: str = ""
    where: str = "local"


@dataclass
class StageContext:
    """What a ``call:`` function receives when it accepts an argument."""

    name: str
    root: str
    params: dict[str, Any]
    deps: list[str]
    outs: list[str]


class TaskFuture:
    """The result of a submitted task, later: ``result()``, ``done()``, ``add_done_callback(fn)``.

    The part of ``concurrent.futures.Future`` the scheduler uses (Ray's futures are real ones);
    concurrent.futures itself costs more to import than a whole no-op run.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[TaskFuture], None]] = []
        self._value: Any = None
        self._error: BaseException | None = None

    def _finish(self, value: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            self._value, self._error = value, error
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def done(self) -> bool:
        return self._event.is_set()

    def result(self, timeout: float | None = None) -> Any:
        if not self._event.wait(timeout):
            raise TimeoutError(f"no result within {timeout} s")
        if self._error is not None:
            raise self._error
        return self._value

    def add_done_callback(self, callback: Callable[[TaskFuture], None]) -> None:
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback(self)


class Executor(Protocol):
    """Runs stage tasks (the conformance suite: tests/conformance/test_executors.py).

    A class registered in the ``flowtide.executors`` entry-point group under the
    name users write as ``executor:``; flowtide makes one as ``Executor(jobs)``
    (at most ``jobs`` stages at once) per run.

    - ``submit(task)`` returns at once with a future (:class:`TaskFuture` or a
      ``concurrent.futures.Future``) whose ``result()`` is a :class:`TaskResult`;
      :func:`run_task` does the work of one stage wherever the executor runs it.
      A stage that fails is a TaskResult with ``ok=False``, not an exception;
      an exception in the future means the executor itself broke.
    - ``close()`` waits for submitted tasks and releases what the executor holds.
    - Optionally ``cancel()``: stop running stages (the user interrupted the run).
    - Optionally an ``on_output`` attribute: flowtide sets it to ``callback(stage, line)`` before the
      first ``submit``; an executor that calls it with each line a stage prints, as it prints it, gives
      `flowtide run` live output (otherwise the output is shown when the stage ends).
    """

    name: str

    def submit(self, task: StageTask) -> TaskFuture: ...

    def close(self) -> None: ...


def tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


OutputCallback = Callable[[str, str], None]
"""(stage name, one line it printed, without its newline)"""


def _pump(stream, chunks: list[str], stage: str, on_output: OutputCallback) -> None:
    """Read a stage's pipe line by line as it is written, keeping everything and passing each line on."""
    _main_thread_takes_signals()
    for line in iter(stream.readline, ""):
        chunks.append(line)
        with contextlib.suppress(Exception):  # a broken printer must not lose the stage's output
            on_output(stage, line.rstrip("\n"))
    stream.close()


def _main_thread_takes_signals() -> None:
    """Block Ctrl-C and SIGTERM in this helper thread, so the kernel hands them to the main thread.

    Python acts on a signal in the main thread only; one handed to a helper thread merely sets
    a flag, and a main thread asleep in a lock would notice it late. Only for threads that
    start no process (a child would inherit the blocked mask).
    """
    import signal

    with contextlib.suppress(AttributeError, ValueError, OSError):  # (no pthread_sigmask: not POSIX)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def _stream(proc: subprocess.Popen, stage: str, on_output: OutputCallback) -> tuple[str, str]:
    """Like ``proc.communicate()``, but each line reaches ``on_output`` when the stage prints it."""
    out: list[str] = []
    err: list[str] = []
    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, out, stage, on_output), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, err, stage, on_output), daemon=True),
    ]
    for reader in readers:
        reader.start()
    proc.wait()
    for reader in readers:
        reader.join()
    return "".join(out), "".join(err)


def run_command(task: StageTask, on_output: OutputCallback | None = None) -> TaskResult:
    """Run a ``cmd`` stage through the shell from the project root (``on_output``: each line as it is printed)."""
    started = time.perf_counter()
    env = {**task.env, "FLOWTIDE_STAGE": task.name}
    if on_output:  # a Python stage writing to a pipe buffers its prints until it exits: not when they are shown live
        env.setdefault("PYTHONUNBUFFERED", "1")
    # a plain command line ("python src/train.py --fast") is exec'd directly: one process less than a shell
    argv: str | list[str] = task.cmd.split() if _PLAIN_COMMAND.match(task.cmd) else task.cmd
    try:
        proc = processes.start(argv, cwd=task.root, env=env)  # its own process group, ended with the runner
    except OSError as exc:  # exec'd directly: what a shell would report as exit 126/127
        message = f"{argv[0]}: {'command not found' if isinstance(exc, FileNotFoundError) else exc.strerror}"
        _write_log(task, "", message)
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        return TaskResult(task.name, False, code, time.perf_counter() - started, stderr_tail=message)
    try:
        stdout, stderr = _stream(proc, task.name, on_output) if on_output else proc.communicate()
    finally:
        processes.end(proc)  # what is left of the group could still write the outputs
    seconds = time.perf_counter() - started
    _write_log(task, stdout, stderr)
    return TaskResult(
        task.name,
        proc.returncode == 0,
        proc.returncode,
        seconds,
        stdout=stdout,
        stderr_tail=tail(stderr) if proc.returncode else "",
    )


_CALL_LOCK = threading.Lock()  # a call changes cwd, sys.path and stdout: one at a time per process


class _Lines(io.StringIO):
    """A captured stream that also passes on each complete line as it is written."""

    def __init__(self, stage: str, on_output: OutputCallback) -> None:
        super().__init__()
        self.stage, self.on_output, self.partial = stage, on_output, ""

    def write(self, text: str) -> int:
        n = super().write(text)
        *lines, self.partial = (self.partial + text).split("\n")
        for line in lines:
            with contextlib.suppress(Exception):
                self.on_output(self.stage, line)
        return n


def run_call(task: StageTask, on_output: OutputCallback | None = None) -> TaskResult:
    """Import ``module:function`` with the project root on sys.path and call it in this process."""
    import importlib
    import inspect
    import traceback

    module_name, _, func_name = task.call.partition(":")
    started = time.perf_counter()
    if on_output:
        out: io.StringIO = _Lines(task.name, on_output)
        err: io.StringIO = _Lines(task.name, on_output)
    else:
        out, err = io.StringIO(), io.StringIO()
    with _CALL_LOCK:
        before = set(sys.modules)
        shadowed = _unload_foreign(module_name, task.root)
        old_cwd = os.getcwd()
        sys.path.insert(0, task.root)
        ok, code = True, 0
        try:
            os.chdir(task.root)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                func = importlib.import_module(module_name)
                for part in func_name.split("."):
                    func = getattr(func, part)
                if _wants_context(inspect, func):
                    result = func(StageContext(task.name, task.root, task.params, task.deps, task.outs))
                else:
                    result = func()
            if result is not None and result is not True and isinstance(result, int):
                ok, code = result == 0, int(result)
            elif result is False:
                ok, code = False, 1
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            ok, code = False, exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 1
            if not (isinstance(exc, SystemExit) and exc.code in (0, None)):
                err.write(traceback.format_exc())
            else:
                ok, code = True, 0
        finally:
            os.chdir(old_cwd)
            with contextlib.suppress(ValueError):
                sys.path.remove(task.root)
            # forget the project's modules so the next call sees edited code (and other projects' modules)
            for name in set(sys.modules) - before:
                if _under(sys.modules.get(name), task.root):
                    sys.modules.pop(name, None)
            sys.modules.update(shadowed)
    _write_log(task, out.getvalue(), err.getvalue())
    return TaskResult(
        task.name,
        ok,
        code,
        time.perf_counter() - started,
        stdout=out.getvalue(),
        stderr_tail="" if ok else tail(err.getvalue()),
    )


def _wants_context(inspect, func) -> bool:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return bool(positional)


def _under(module, root: str) -> bool:
    path = getattr(module, "__file__", None) or ""
    return bool(path) and os.path.abspath(path).startswith(os.path.abspath(root) + os.sep)


def _unload_foreign(module_name: str, root: str) -> dict[str, Any]:
    """Temporarily drop an already imported module of that name that lives outside this project."""
    shadowed = {}
    top = module_name.split(".")[0]
    for name in list(sys.modules):
        if name == top or name.startswith(top + "."):
            module = sys.modules[name]
            if getattr(module, "__file__", None) and not _under(module, root):
                candidate = os.path.join(root, *top.split("."))
                if os.path.exists(candidate + ".py") or os.path.isdir(candidate):
                    shadowed[name] = sys.modules.pop(name)
    return shadowed


def run_task(task: StageTask, on_output: OutputCallback | None = None) -> TaskResult:
    return run_call(task, on_output) if task.call else run_command(task, on_output)


def _write_log(task: StageTask, stdout: str, stderr: str) -> None:
    if not task.log:
        return
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(task.log), exist_ok=True)
        with open(task.log, "w", encoding="utf-8") as handle:
            handle.write(stdout)
            if stderr:
                handle.write("\n--- stderr ---\n" + stderr)


class LocalExecutor:
    """One thread per running stage (at most ``jobs``): subprocesses for ``cmd``, in-process for ``call``."""

    name = "local"

    def __init__(self, jobs: int = 1) -> None:
        self._slots = threading.Semaphore(max(1, jobs))
        self._threads: list[threading.Thread] = []
        self.on_output: OutputCallback | None = None
        """Set by the run: each line a stage prints, as it prints it."""

    def submit(self, task: StageTask) -> TaskFuture:
        future = TaskFuture()

        def work() -> None:
            with self._slots:
                try:
                    value = run_task(task, self.on_output)
                except BaseException as exc:
                    future._finish(error=exc)
                else:
                    future._finish(value)

        thread = threading.Thread(target=work, name=f"flowtide-stage-{task.name}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return future

    def cancel(self) -> None:
        """End the running ``cmd`` stages' process groups (the runner was interrupted); ``close`` then returns."""
        processes.terminate(self._threads)

    def close(self) -> None:
        for thread in self._threads:
            thread.join()
        self._threads.clear()


class RayExecutor:
    """Each stage is a Ray task (``num_cpus=1``); workers must see the project directory."""

    name = "ray"

    def __init__(self, jobs: int | None = None) -> None:
        ray = import_ray()
        self._started = False
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS")
            ray.init(
                address=address or None,
                num_cpus=None if address else max(1, jobs or os.cpu_count() or 1),
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
            self._started = True
        self._ray = ray
        self._remote = ray.remote(num_cpus=1)(_ray_task)

    def submit(self, task: StageTask):
        return self._remote.remote(task).future()  # a concurrent.futures.Future

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()


def _ray_task(task: StageTask) -> TaskResult:
    result = run_task(task)
    import socket

    result.where = f"ray:{socket.gethostname()}:{os.getpid()}"
    return result


def import_ray():
    from ..extras import install_line, missing

    if missing("ray"):
        raise UsageError(
            "the ray executor needs ray, which is not installed",
            hint=f"Install it with: {install_line('ray')}, or use --executor local.",
        )
    import ray

    return ray


def make_executor(kind: str, jobs: int = 1) -> Executor:
    """The executor registered as ``kind`` (entry-point group ``flowtide.executors``), for ``jobs`` stages at once."""
    from .. import plugins

    return plugins.load(plugins.EXECUTORS, kind)(jobs)
