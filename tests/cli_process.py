"""Running the ``onboarding`` command line as operators do: in this process, or in a subprocess.

:func:`run` calls the console script's entry point (``workflow.cli.main``) in this process, as
the script would run it in a fresh interpreter: the given environment, working directory and
``argv[0]``, an empty stdin, stdout and stderr captured as from a pipe, the exit code from
``SystemExit`` and a traceback for anything uncaught. What a command leaves behind (settings,
logging, warnings filters, signal handlers, database engines) is undone after it, so one call
cannot affect the next. That costs milliseconds instead of the ~0.3 s a Python start-up and its
imports take. ``run(..., process=True)`` runs the installed script in a subprocess instead: for
tests whose subject is the process itself (file modes, start-up, the entry point).
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import os
import signal
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: The console script installed beside the test interpreter (``pip install -e .``).
ONBOARDING = Path(sys.executable).with_name("onboarding")

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1


def _drop_dac_override() -> None:
    """In the child, before exec: lose root's power to write files whatever their mode."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def file_modes_bind() -> Callable[[], None] | None:
    """A ``preexec_fn`` under which file modes bind the child (``None`` when not root).

    Root ignores a file's write bits; dropping CAP_DAC_OVERRIDE from the child's bounding set
    makes a 0444 file or a 0555 directory as unwritable for it as for any other user.
    """
    return _drop_dac_override if os.geteuid() == 0 else None


def environment(**overrides: str) -> dict[str, str]:
    """The test environment without our settings variables, plus ``overrides``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ONBOARDING_", "SENT_"))
        or k in ("ONBOARDING_TEST_POSTGRES_URL", "ONBOARDING_RATE_LIMITS")
    }
    env.update({"COLUMNS": "80", **overrides})
    return env


def run(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    preexec_fn: Callable[[], None] | None = None,
    timeout: float = 60,
    input: str | None = None,
    process: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``onboarding ARGS`` with ``input`` on stdin (none: empty) and capture its output: in
    this process, or in a subprocess of the installed script when ``process`` is true or a
    ``preexec_fn`` is given (it needs a child to run in). ``timeout`` bounds a subprocess only."""
    assert ONBOARDING.exists(), f"{ONBOARDING} is missing: pip install -e '.[dev]'"
    if process or preexec_fn is not None:
        return subprocess.run(
            [str(ONBOARDING), *args], capture_output=True, text=True, env=env or environment(),
            cwd=cwd, preexec_fn=preexec_fn, timeout=timeout, input=input,
            stdin=subprocess.DEVNULL if input is None else None, check=False,
        )  # fmt: skip
    return _run_here(list(args), env or environment(), cwd, input or "")


def _pipe(errors: str, content: str = "") -> io.TextIOWrapper:
    """A text stream like a fresh interpreter's stdin, stdout or stderr on a pipe (not a TTY)."""
    data = io.BytesIO(content.encode())
    return io.TextIOWrapper(data, encoding="utf-8", errors=errors, write_through=True)


def _read(stream: io.TextIOWrapper) -> str:
    """What ``subprocess.run(text=True)`` would have read from the pipe."""
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue().decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def _run_here(
    args: list[str], env: dict[str, str], cwd: Path | None, stdin: str
) -> subprocess.CompletedProcess[str]:
    """``onboarding ARGS`` in this process, as the console script runs it in a new one."""
    from workflow.cli import main

    stdout, stderr = _pipe("strict"), _pipe("backslashreplace")
    streams = _pipe("strict", stdin), stdout, stderr
    with _process_state(env, cwd, [str(ONBOARDING), *args], streams), _engines_disposed():
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc, stderr)
        except Exception as exc:  # the interpreter prints it (from main's frame on) and exits 1
            below = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
            traceback.print_exception(type(exc), exc, below, file=stderr)
            code = 1
    return subprocess.CompletedProcess([str(ONBOARDING), *args], code, _read(stdout), _read(stderr))


def _exit_code(exc: SystemExit, stderr: io.TextIOWrapper) -> int:
    """The exit status the interpreter makes of ``SystemExit(code)``."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=stderr)
    return 1


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """Assert the command failed with exactly one line on stderr and no traceback; return it."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


#: Signals a command may take over; a fresh interpreter's handlers are back after each call.
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: A fresh interpreter's warnings filters (no -W, no PYTHONWARNINGS), first match first.
_INTERPRETER_WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    ("default", DeprecationWarning, "__main__"),
    ("ignore", DeprecationWarning, ""),
    ("ignore", PendingDeprecationWarning, ""),
    ("ignore", ImportWarning, ""),
    ("ignore", ResourceWarning, ""),
)


@contextlib.contextmanager
def _process_state(
    env: dict[str, str],
    cwd: Path | None,
    argv: list[str],
    streams: tuple[io.TextIOWrapper, io.TextIOWrapper, io.TextIOWrapper],
) -> Iterator[None]:
    """Environment, directory, argv, standard streams, warnings, logging and signal handlers as
    in a new interpreter, for the time of one command; this process's own after it."""
    saved_env, saved_cwd, saved_argv = dict(os.environ), os.getcwd(), sys.argv
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    saved_signals = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    os.environ.clear()
    os.environ.update(env)
    try:
        if cwd is not None:
            os.chdir(cwd)
        sys.argv = argv
        sys.stdin, sys.stdout, sys.stderr = streams
        _reset_settings()
        with warnings.catch_warnings(), _fresh_logging():
            warnings.resetwarnings()
            for action, category, module in reversed(_INTERPRETER_WARNINGS):
                warnings.filterwarnings(action, category=category, module=module)  # type: ignore[arg-type]
            yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for sig, handler in saved_signals.items():
            if signal.getsignal(sig) is not handler:
                signal.signal(sig, handler)


def _reset_settings() -> None:
    """The global options as ``workflow.cli.wiring`` sets them when first imported."""
    from persistence.db import database_url
    from workflow.cli import wiring

    fresh = wiring.Settings(db=database_url(), api_url=None, api_key=None, key_file=None)
    vars(wiring._settings).update(vars(fresh))


@contextlib.contextmanager
def _fresh_logging() -> Iterator[None]:
    """Logging as a new interpreter has it (no handler on the root logger, which logs warnings,
    so ``logging.lastResort`` prints them), and every logger's level and the root's handlers
    as they were after: ``setup_logging``'s handler writes to the command's stderr."""
    root = logging.getLogger()
    loggers = [
        root,
        *(x for x in root.manager.loggerDict.values() if isinstance(x, logging.Logger)),
    ]
    levels = {logger: logger.level for logger in loggers}
    handlers = root.handlers[:]
    root.handlers = []
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.handlers = handlers
        for logger in root.manager.loggerDict.values():
            if isinstance(logger, logging.Logger):
                logger.level = levels.get(logger, logging.NOTSET)
        root.level = levels[root]
        root.manager._clear_cache()  # type: ignore[attr-defined]


@contextlib.contextmanager
def _engines_disposed() -> Iterator[None]:
    """Dispose of every engine ``persistence.db.make_engine`` makes meanwhile (a process's exit
    would close their connections: SQLite files stay unlocked, PostgreSQL's do not pile up)."""
    import persistence.db

    original = persistence.db.make_engine
    made: list[Any] = []
    recording = [True]

    def make_engine(url: str | None = None, *, pool_size: int = 10) -> Any:
        engine = original(url, pool_size=pool_size)
        if recording[0]:  # (a module importing it meanwhile keeps this function)
            made.append(engine)
        return engine

    persistence.db.make_engine = make_engine
    try:
        yield
    finally:
        recording[0] = False
        persistence.db.make_engine = original
        for engine in made:
            engine.dispose()
        made.clear()
