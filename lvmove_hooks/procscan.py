"""Who else is working on a move: LVM pollers and activation commands found in /proc."""

from __future__ import annotations

import itertools
import os
import platform
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lvmove_hooks.names import LvRef

# clock_nanosleep / nanosleep syscall numbers, by machine.
_SLEEP_SYSCALLS = {
    "x86_64": {230, 35},
    "aarch64": {115, 101},
    "ppc64le": {348, 162},
    "s390x": {337, 162},
    "riscv64": {115, 101},
}


def _is_lvm(prog: str) -> bool:
    """`lvm`, or LVM's background poller: after forking it overwrites its argv[0] with "(lvm2)", cut to the
    length of the original (so `lvm` becomes "(lv")."""
    return prog == "lvm" or prog.startswith("(lv")


def proc_root() -> Path:
    return Path(os.environ.get("LVMOVE_PROC", "/proc"))


@dataclass(frozen=True)
class Process:
    pid: int
    argv: tuple[str, ...]

    @property
    def lvm_command(self) -> str | None:
        """The LVM command this process runs (`lvpoll`, `pvmove`, ...), or None."""
        if not self.argv:
            return None
        prog = os.path.basename(self.argv[0])
        if _is_lvm(prog) and len(self.argv) > 1:
            return self.argv[1]
        if prog in ("lvpoll", "pvmove", "vgchange", "lvchange", "pvscan"):
            return prog
        return None

    @property
    def lvm_args(self) -> tuple[str, ...]:
        """Arguments after the command name."""
        return self.argv[2:] if _is_lvm(os.path.basename(self.argv[0])) else self.argv[1:]

    def describe(self) -> str:
        return f"pid {self.pid}: {' '.join(self.argv)}"


def processes() -> Iterator[Process]:
    root = proc_root()
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        argv = tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)
        if argv:
            yield Process(int(entry.name), argv)


def _same_device(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)
    return sa.st_rdev == sb.st_rdev and sa.st_rdev != 0


def other_pollers(ref: LvRef, source: str, exclude: set[int]) -> list[Process]:
    """LVM processes that poll (or will poll) this move, other than ours."""
    found: list[Process] = []
    for proc in processes():
        if proc.pid in exclude or proc.pid == os.getpid():
            continue
        command = proc.lvm_command
        args = proc.lvm_args
        if command == "lvpoll":
            if str(ref) in args:
                found.append(proc)
        elif command == "pvmove":
            paths = [a for a in args if a.startswith("/")]
            if not paths or any(_same_device(p.split(":", 1)[0], source) for p in paths[:1]):
                found.append(proc)
    return found


def activators(vg: str, exclude: set[int]) -> list[Process]:
    """Running LVM activation commands that may start a poller for `vg` when they finish."""
    found: list[Process] = []
    for proc in processes():
        if proc.pid in exclude or proc.pid == os.getpid():
            continue
        command = proc.lvm_command
        if command not in ("vgchange", "lvchange", "pvscan"):
            continue
        args = proc.lvm_args
        activating = any(a.startswith(("-a", "--activate")) for a in args)
        no_poll = any(a in ("--sysinit",) for a in args) or any(
            a == "--poll" and b == "n" for a, b in itertools.pairwise(args)
        )
        if not activating or no_poll:
            continue
        positional = [a for a in args if not a.startswith("-")]
        if command == "pvscan" or vg in args or any(a.startswith(f"{vg}/") for a in args) or not positional:
            found.append(proc)
    return found


def is_sleeping(pid: int) -> bool:
    """True when the process is inside a sleep syscall: the only moment LVM's poller takes SIGINT."""
    root = proc_root()
    numbers = _SLEEP_SYSCALLS.get(platform.machine(), {230, 35})
    try:
        first = (root / str(pid) / "syscall").read_text().split()[0]
        if first.isdigit():
            return int(first) in numbers
    except (OSError, IndexError):
        pass
    try:
        wchan = (root / str(pid) / "wchan").read_text()
    except OSError:
        return False
    return "nanosleep" in wchan


def catches_sigchld(pid: int) -> bool:
    """True when the process has a SIGCHLD handler. LVM's forked background poller (`pvmove -b` without
    lvmpolld) installs one; any handled signal ends its sleep between checks early (nanosleep returns), and
    as it is not SIGINT or SIGTERM the poller goes on to check at once instead of exiting."""
    try:
        text = (proc_root() / str(pid) / "status").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("SigCgt:"):
            try:
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGCHLD - 1)))
            except (IndexError, ValueError):
                return False
    return False


def pid_alive(pid: int) -> bool:
    try:
        stat = (proc_root() / str(pid) / "stat").read_text()
    except OSError:
        return False
    # A zombie has finished its work.
    return ") Z" not in stat
