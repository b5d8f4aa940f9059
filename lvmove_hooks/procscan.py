"""Who else is working on a move: LVM pollers and activation commands found in /proc.

An LVM process is recognised by what it runs, not by how its argv is spelled: `/proc/PID/exe` resolves to the
`lvm` binary that lvmove itself runs (found on the runner's PATH; compared by path and by device and inode).
LVM's forked background poller rewrites its argv[0] (`become_daemon()`), and how that reads differs between
LVM generations: "(lvm2)" cut to the length of the original on 2.03.16 ("lvm" becomes "(lv"), NUL-terminated
on main ("(l"); a long argv[0] such as "/usr/sbin/lvm" leaves its tail behind the NUL there ("(lvm2)",
"in/lvm"). The command comes from `/proc/PID/comm` when LVM ran under a command's name (`/sbin/pvmove`),
else from the first argument. Only where exe cannot be read (another user's process without privileges) does
the spelling decide.
"""

from __future__ import annotations

import functools
import itertools
import os
import platform
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lvmove_hooks import runner
from lvmove_hooks.names import LvRef

# clock_nanosleep / nanosleep syscall numbers, by machine.
_SLEEP_SYSCALLS = {
    "x86_64": {230, 35},
    "aarch64": {115, 101},
    "ppc64le": {348, 162},
    "s390x": {337, 162},
    "riscv64": {115, 101},
}

LVM_PROGRAM = "lvm"
# Names the lvm binary runs under as itself (the command is its first argument) ...
_LVM_NAMES = frozenset({"lvm", "lvm.static", "initrd-lvm"})
# ... and the commands lvmove looks for (also the names of LVM's symlinks: /sbin/pvmove -> lvm).
COMMANDS = frozenset({"lvpoll", "pvmove", "vgchange", "lvchange", "pvscan"})
Binary = tuple[str, tuple[int, int] | None] | None  # the lvm binary: (real path, (device, inode)), or None


@functools.lru_cache(maxsize=4)
def _lvm_binary(path_var: str) -> Binary:
    """(real path, (device, inode)) of the lvm that `path_var` finds, or None when there is none."""
    found = shutil.which(LVM_PROGRAM, path=path_var)
    if found is None:
        return None
    real = os.path.realpath(found)
    try:
        st = os.stat(real)
    except OSError:
        return real, None
    return real, (st.st_dev, st.st_ino)


def lvm_binary() -> Binary:
    """The lvm binary lvmove runs (through the runner, on its PATH)."""
    return _lvm_binary(runner.command_env()["PATH"])


def runs_lvm(entry: Path, binary: Binary) -> bool | None:
    """Whether the process of /proc entry `entry` runs the lvm `binary` (lvm_binary()): None when that cannot
    be told (no lvm on PATH; exe unreadable: another user's process, a kernel thread, a test's /proc)."""
    if binary is None:
        return None
    real, key = binary
    exe = entry / "exe"
    try:
        target = os.readlink(exe)
    except OSError:
        return None
    # An lvm replaced on disk (package upgrade) while the process runs reads "/usr/sbin/lvm (deleted)".
    if target.removesuffix(" (deleted)") == real:
        return True
    try:
        st = os.stat(exe)
    except OSError:
        return False
    return key is not None and (st.st_dev, st.st_ino) == key


def _spelled_like_lvm(argv: tuple[str, ...], comm: str) -> bool:
    """The fallback where exe cannot be read: LVM's names, or an argv[0] rewritten by become_daemon()."""
    base = os.path.basename(argv[0])
    return (comm in _LVM_NAMES or comm in COMMANDS or base in _LVM_NAMES or base in COMMANDS
            or argv[0].startswith("(l"))


def _after_argv0(argv: tuple[str, ...], comm: str) -> tuple[str, ...]:
    """argv[1:], without the tail of a long argv[0] that LVM main's NUL-terminated rewrite leaves behind
    ("/usr/sbin/lvm" -> "(lvm2)", "in/lvm"): a piece of the program's path that ends in its comm."""
    rest = argv[1:]
    if comm and argv[0].startswith("(") and rest and rest[0] not in COMMANDS and (
            comm.endswith(rest[0]) or rest[0].endswith("/" + comm)):
        return rest[1:]
    return rest


def lvm_invocation(argv: tuple[str, ...], comm: str, is_lvm: bool | None) -> tuple[str | None, tuple[str, ...]]:
    """(LVM command, its arguments) of a process, or (None, ()) when it is not LVM. `is_lvm`: what exe says
    (see runs_lvm)."""
    if not argv or is_lvm is False or (is_lvm is None and not _spelled_like_lvm(argv, comm)):
        return None, ()
    rest = _after_argv0(argv, comm)
    base = os.path.basename(argv[0])
    if comm in COMMANDS:  # run as /sbin/pvmove etc.: the kernel named the process after the link
        return comm, rest
    if base in COMMANDS:
        return base, rest
    if rest:
        return rest[0], rest[1:]
    return None, ()


def proc_root() -> Path:
    return Path(os.environ.get("LVMOVE_PROC", "/proc"))


@dataclass(frozen=True)
class Process:
    pid: int
    argv: tuple[str, ...]
    command: str | None = None  # the LVM command it runs (`lvpoll`, `pvmove`, ...); None: not LVM
    args: tuple[str, ...] = ()  # the arguments after the command

    @property
    def lvm_command(self) -> str | None:
        return self.command

    @property
    def lvm_args(self) -> tuple[str, ...]:
        return self.args

    def describe(self) -> str:
        return f"pid {self.pid}: {' '.join(self.argv)}"


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def read_process(entry: Path, binary: Binary) -> Process | None:
    """The process of /proc entry `entry`, identified (`binary`: lvm_binary()); None when it has gone or has
    no cmdline."""
    try:
        raw = (entry / "cmdline").read_bytes()
    except OSError:
        return None
    argv = tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    if not argv:
        return None
    comm = _read_text(entry / "comm")
    command, args = lvm_invocation(argv, comm, runs_lvm(entry, binary))
    return Process(int(entry.name), argv, command, args)


def pids() -> set[int]:
    """Every process id in /proc now."""
    try:
        return {int(e.name) for e in proc_root().iterdir() if e.name.isdigit()}
    except OSError:
        return set()


def processes() -> Iterator[Process]:
    root = proc_root()
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    binary = lvm_binary()
    for entry in entries:
        if entry.name.isdigit() and (proc := read_process(entry, binary)) is not None:
            yield proc


def _same_device(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)
    return sa.st_rdev == sb.st_rdev and sa.st_rdev != 0


def _pvmove_covers(args: tuple[str, ...], source: str) -> bool:
    """A `pvmove` with these arguments polls the move off `source` (no PV named: every move)."""
    paths = [a for a in args if a.startswith("/")]
    return not paths or _same_device(paths[0].split(":", 1)[0], source)


def _polls(proc: Process, ref: LvRef, source: str) -> bool:
    if proc.command == "lvpoll":
        return str(ref) in proc.args
    return proc.command == "pvmove" and _pvmove_covers(proc.args, source)


def other_pollers(ref: LvRef, source: str, exclude: set[int]) -> list[Process]:
    """LVM processes that poll (or will poll) this move, other than ours."""
    return [proc for proc in processes()
            if proc.pid not in exclude and proc.pid != os.getpid() and _polls(proc, ref, source)]


def _cgroup(pid: int | None) -> str | None:
    """/proc/PID/cgroup (None: our own, from the real /proc), or None when it cannot be read."""
    path = Path("/proc/self/cgroup") if pid is None else proc_root() / str(pid) / "cgroup"
    text = _read_text(path)
    return text or None


def launched_pollers(source: str, before: set[int]) -> list[Process]:
    """What a `pvmove -b` of the move off `source` that lvmove just ran has left running: LVM `pvmove`
    processes for that source PV that were not there before it (`before`: pids()), in lvmove's own cgroup
    (LVM forks its background poller into the caller's cgroup), whatever their argv looks like."""
    own = _cgroup(None)
    found = []
    for proc in processes():
        if proc.pid in before or proc.pid == os.getpid() or proc.command != "pvmove":
            continue
        theirs = _cgroup(proc.pid) if own is not None else None
        if _pvmove_covers(proc.args, source) and (theirs is None or theirs == own):
            found.append(proc)
    return found


def activators(vg: str, exclude: set[int]) -> list[Process]:
    """Running LVM activation commands that may start a poller for `vg` when they finish."""
    found: list[Process] = []
    for proc in processes():
        if proc.pid in exclude or proc.pid == os.getpid():
            continue
        command = proc.command
        if command not in ("vgchange", "lvchange", "pvscan"):
            continue
        args = proc.args
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
