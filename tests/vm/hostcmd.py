"""The one gateway for external commands run by the VM harness (argv lists, logged)."""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("lvmove.vm")


class HostCommandError(RuntimeError):
    """An external command failed or timed out."""


def run(
    argv: Sequence[str | Path],
    *,
    timeout: float = 600.0,
    check: bool = True,
    capture: bool = False,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run argv (never through a shell), log it, bound it by timeout, raise on failure if check."""
    args = [str(a) for a in argv]
    log.info("+ %s", shlex.join(args))
    try:
        proc = subprocess.run(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            text=True,
            timeout=timeout,
            env=env,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as exc:
        raise HostCommandError(f"timed out after {timeout:.0f}s: {shlex.join(args)}") from exc
    except FileNotFoundError as exc:
        raise HostCommandError(f"command not found: {args[0]}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or "").strip()[-2000:] if capture else ""
        raise HostCommandError(f"exit {proc.returncode}: {shlex.join(args)}\n{detail}".rstrip())
    return proc


def spawn(argv: Sequence[str | Path], *, stdout_path: Path) -> subprocess.Popen[bytes]:
    """Start a long-running process (qemu) in the background, output to a file; logged like run()."""
    args = [str(a) for a in argv]
    log.info("+ %s &", shlex.join(args))
    with open(stdout_path, "ab") as out:
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
