"""The one gateway to external commands: argv lists, explicit env, timeouts, logging.

Mutating commands are never SIGKILLed: on timeout they get SIGINT (LVM honours it only where it is safe) and
are waited for.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from lvmove_hooks.errors import CommandFailed

log = logging.getLogger("lvmove.runner")

DEFAULT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# Variables passed through from our own environment (tests point PATH and LVM at fakes).
_PASSTHROUGH_PREFIXES = ("LVMOVE_", "LVM_", "DM_")
QUERY_TIMEOUT = 60.0
MUTATE_TIMEOUT = 600.0
GRACE_AFTER_SIGINT = 300.0


# Processes started, by program name (for the completion report and the benchmarks).
started: Counter[str] = Counter()


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def summary(self) -> str:
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else f"exit status {self.returncode}"


def command_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The explicit environment every command runs with."""
    env = {
        "PATH": os.environ.get("PATH", DEFAULT_PATH) or DEFAULT_PATH,
        "LC_ALL": "C",
        "LANG": "C",
        "LVM_SUPPRESS_FD_WARNINGS": "1",
    }
    for key, value in os.environ.items():
        if key.startswith(_PASSTHROUGH_PREFIXES) and key not in env:
            env[key] = value
    if extra:
        env.update(extra)
    return env


def run(
    argv: Sequence[str],
    *,
    timeout: float | None = None,
    mutating: bool = False,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    probe: bool = False,
) -> Result:
    """Run argv to completion and return its output; raise CommandFailed if `check` and it failed. `probe`: a
    failure is an answer (does this LVM know a setting?), logged at debug level, not as a warning."""
    args = tuple(argv)
    limit = timeout if timeout is not None else (MUTATE_TIMEOUT if mutating else QUERY_TIMEOUT)
    log.debug("run: %s", shlex.join(args))
    start = time.monotonic()
    proc = _popen(args, subprocess.PIPE, subprocess.PIPE, env)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        out, err = _stop_overdue(proc, args, mutating)
    result = Result(args, proc.returncode, out, err, time.monotonic() - start)
    if result.ok:
        log.debug("ok in %.2fs: %s", result.seconds, shlex.join(args))
    else:
        log.log(logging.DEBUG if probe else logging.WARNING, "failed (%d) in %.2fs: %s: %s", result.returncode,
                result.seconds, shlex.join(args), result.summary())
    if check and not result.ok:
        raise CommandFailed(f"{shlex.join(args)} failed: {result.summary()}")
    return result


def _stop_overdue(proc: subprocess.Popen[str], args: tuple[str, ...], mutating: bool) -> tuple[str, str]:
    if mutating:
        log.warning("timed out, sending SIGINT (never SIGKILL to LVM): %s", shlex.join(args))
        proc.send_signal(signal.SIGINT)
        try:
            return proc.communicate(timeout=GRACE_AFTER_SIGINT)
        except subprocess.TimeoutExpired:
            # Still running: wait for it; killing a metadata update could corrupt the VG.
            log.error("still running after SIGINT, waiting for it: %s", shlex.join(args))
            return proc.communicate()
    log.warning("timed out, killing read-only command: %s", shlex.join(args))
    proc.kill()
    return proc.communicate()


def spawn(argv: Sequence[str], output: IO[bytes], *, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start a long-running child in its own session (a terminal's ^C reaches only lvmove).

    Its output goes to `output` (a file, never a pipe nobody drains: a full pipe would stall LVM).
    """
    args = tuple(argv)
    log.info("start: %s", shlex.join(args))
    return _popen(args, output, subprocess.STDOUT, env)


def _popen(args: tuple[str, ...], stdout: IO[bytes] | int, stderr: int,
           env: Mapping[str, str] | None) -> subprocess.Popen[str]:
    """Start a process in its own session (a terminal's ^C reaches only lvmove), stdin closed, fds closed."""
    started[os.path.basename(args[0])] += 1
    try:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env=command_env(env),
            close_fds=True,
            text=True,
            start_new_session=True,
        )
    except OSError as exc:
        raise CommandFailed(f"cannot run {args[0]}: {exc.strerror}", hint="is LVM2 installed?") from None
