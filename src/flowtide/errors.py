"""The error hierarchy: every failure a user can see is a ``FlowtideError``.

::

    FlowtideError                 exit 1 unless a subclass says otherwise
    ├── UsageError                exit 2: bad arguments, unknown names
    │   ├── ConfigError           exit 2: flowtide.yaml / params.yaml wrong (file:line:col)
    │   ├── PluginError           exit 2: an unknown component name, or a plugin that fails to load
    │   └── MissingExtra          exit 2: an optional part is not installed (names the `pip install` line)
    ├── SourceError               a source could not be fetched (names source and URL)
    ├── StoreError                a blob is missing or unreadable
    │   └── IntegrityError        bytes do not match their recorded hash
    ├── StageError                a pipeline stage failed (stderr tail attached)
    ├── RegistryError             registry / promotion rule violated
    └── ServeError                a model could not be loaded or served

A message says what happened, where, and what to do next. The CLI prints the
message and exits with ``exit_code``; the traceback only with ``--debug``.
Foreign exceptions are translated at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class FlowtideError(Exception):
    """Root of every error flowtide raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n{self.hint}"
        return self.message


class UsageError(FlowtideError):
    """The command was called wrongly: an unknown name, a bad option value."""

    exit_code = 2


class ConfigError(UsageError):
    """The project configuration is invalid; points at file, line and column."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        where = ""
        if file:
            where = file
            if line is not None:
                where += f":{line}"
                if column is not None:
                    where += f":{column}"
            where += ": "
        super().__init__(f"{where}{message}", hint=hint)


class PluginError(UsageError):
    """A component (source kind, check, model format, executor) is not installed or its package is broken."""

    def __init__(self, message: str, *, group: str, name: str, hint: str | None = None) -> None:
        self.group = group
        self.name = name
        super().__init__(message, hint=hint)


class MissingExtra(UsageError):
    """An optional part of flowtide (serving, a model format, S3, MLflow, Ray) lacks its libraries.

    The hint is the exact command that installs them: ``pip install 'flowtide[EXTRA]'``.
    """

    def __init__(self, extra: str, what: str, packages: list[str]) -> None:
        self.extra = extra
        self.what = what
        self.packages = packages
        verb = "is" if len(packages) == 1 else "are"
        super().__init__(
            f"{what} needs {', '.join(packages)}, which {verb} not installed",
            hint=f"Install it with: pip install 'flowtide[{extra}]'",
        )


class SourceError(FlowtideError):
    """A source could not be fetched; nothing in the working tree changed."""

    def __init__(self, source: str, url: str, reason: str, *, hint: str | None = None) -> None:
        self.source = source
        self.url = url
        self.reason = reason
        super().__init__(
            f"source {source!r} ({url}): {reason}",
            hint=hint or "The previous data file and lock are unchanged; fix the source and pull again.",
        )


class StoreError(FlowtideError):
    """A blob is missing from the store or cannot be read."""


class IntegrityError(StoreError):
    """Bytes do not match the hash they were recorded under."""


class StageError(FlowtideError):
    """A pipeline stage failed; ``stderr_tail`` holds the last lines it printed."""

    def __init__(self, stage: str, message: str, *, stderr_tail: str = "", hint: str | None = None):
        self.stage = stage
        self.stderr_tail = stderr_tail
        text = f"stage {stage!r} {message}"
        if stderr_tail:
            text += "\n--- last lines of stderr ---\n" + stderr_tail.rstrip()
        super().__init__(text, hint=hint)


class RegistryError(FlowtideError):
    """A registry operation was refused (unknown version, promotion rule)."""


class ServeError(FlowtideError):
    """A model could not be loaded or served."""


def reason_of(exc: BaseException) -> str:
    """One line saying why something failed: a FlowtideError's message, else ``Type: text``."""
    if isinstance(exc, FlowtideError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"
