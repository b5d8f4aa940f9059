"""procscan: recognising LVM pollers in a /proc tree (LVMOVE_PROC), including LVM's forked background poller."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from lvmove_hooks import procscan
from lvmove_hooks.names import LvRef

# SigCgt of a process catching SIGINT (2), SIGTERM (15) and SIGCHLD (17): bits 1, 14 and 16.
CATCHES_CHLD = "0000000000014002"
NO_CHLD = "0000000000004002"


def fake_proc(root: Path, pid: int, argv: list[str], sigcgt: str = NO_CHLD) -> None:
    entry = root / str(pid)
    entry.mkdir(parents=True)
    (entry / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (entry / "status").write_text(f"Name:\tlvm\nState:\tS (sleeping)\nSigBlk:\t0000000000000000\n"
                                  f"SigIgn:\t0000000000001000\nSigCgt:\t{sigcgt}\n")
    (entry / "stat").write_text(f"{pid} (lvm) S 1 {pid} {pid} 0\n")


@pytest.fixture
def proc_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LVMOVE_PROC", str(tmp_path))
    return tmp_path


def test_forked_poller_with_rewritten_argv0_is_found_and_wakeable(proc_root: Path) -> None:
    # become_daemon() overwrites argv[0] with "(lvm2)" cut to its length: "lvm" -> "(lv"; "/usr/sbin/lvm"
    # -> "(lvm2)" followed by NULs.
    fake_proc(proc_root, 101, ["(lv", "pvmove", "--config", "global/use_lvmpolld=0", "-b", "--alloc", "normal",
                               "-i", "300", "/dev/sda", "/dev/sda"], CATCHES_CHLD)
    fake_proc(proc_root, 102, ["(lvm2)", "", "", "", "", "", "", "pvmove", "-b", "/dev/sda"], CATCHES_CHLD)
    fake_proc(proc_root, 103, ["/usr/sbin/lvm", "lvpoll", "--polloperation", "pvmove", "--interval", "15",
                               "vg/pvmove0"])
    fake_proc(proc_root, 104, ["(lv", "pvmove", "-b", "/dev/sdz"], CATCHES_CHLD)  # another source PV
    found = procscan.other_pollers(LvRef("vg", "pvmove0"), "/dev/sda", set())
    assert sorted(p.pid for p in found) == [101, 102, 103]
    assert [p.lvm_command for p in sorted(found, key=lambda p: p.pid)] == ["pvmove", "pvmove", "lvpoll"]
    assert procscan.catches_sigchld(101) and procscan.catches_sigchld(102)
    assert not procscan.catches_sigchld(103)  # lvmpolld's lvpoll: exec'd, no handler: not wakeable
    assert not procscan.catches_sigchld(999)  # gone


def test_catches_sigchld_reads_the_real_status_of_a_process_with_a_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LVMOVE_PROC", raising=False)
    code = ("import signal, time; signal.signal(signal.SIGCHLD, lambda *a: None); print('ok', flush=True); "
            "time.sleep(30)")
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "ok"
            assert procscan.catches_sigchld(child.pid)
            deadline = time.monotonic() + 10
            while not procscan.is_sleeping(child.pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert procscan.is_sleeping(child.pid)
        finally:
            child.kill()
    with subprocess.Popen(["sleep", "30"]) as plain:  # no handler: a SIGCHLD would be ignored, not wake it
        try:
            assert not procscan.catches_sigchld(plain.pid)
        finally:
            plain.kill()


# ---- identity by exe, not by argv spelling (issue 11, point 2) ------------------------------------------------

WARM_ARGS = [b"--config", b"global/use_lvmpolld=0", b"-b", b"--alloc", b"normal", b"-i", b"300", b"/dev/sda",
             b"/dev/sda"]


def lvm_proc(root: Path, pid: int, cmdline: bytes, exe: Path | None, comm: str = "lvm",
             sigcgt: str = CATCHES_CHLD) -> None:
    """A /proc entry as the kernel shows it: raw cmdline bytes, exe link, comm."""
    fake_proc(root, pid, ["x"], sigcgt)
    (root / str(pid) / "cmdline").write_bytes(cmdline)
    (root / str(pid) / "comm").write_text(comm + "\n")
    if exe is not None:
        (root / str(pid) / "exe").symlink_to(exe)


@pytest.fixture
def lvm_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An `lvm` on the PATH lvmove runs commands with: what /proc/PID/exe of an LVM process resolves to."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    lvm = bindir / "lvm"
    lvm.write_text("#!/bin/sh\nexit 0\n")
    lvm.chmod(0o755)
    (bindir / "pvmove").symlink_to("lvm")
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    return lvm


@pytest.fixture
def proc_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proc"
    root.mkdir()
    monkeypatch.setenv("LVMOVE_PROC", str(root))
    return root


def test_forked_poller_of_lvm_main_is_found_by_its_exe(proc_tree: Path, lvm_bin: Path) -> None:
    # LVM main (2.03.40-git) NUL-terminates the rewritten argv[0]: "lvm" -> "(l\0", which `ps` shows as
    # "(l  pvmove --config global/use_lvmpolld=0 -b --alloc normal -i 300 /dev/sda /dev/sda".
    lvm_proc(proc_tree, 201, b"\0".join([b"(l", b"", b"pvmove", *WARM_ARGS]) + b"\0", lvm_bin)
    (found,) = procscan.other_pollers(LvRef("vg", "pvmove0"), "/dev/sda", set())
    assert found.pid == 201 and found.lvm_command == "pvmove"
    assert found.lvm_args == tuple(a.decode() for a in WARM_ARGS)


@pytest.mark.parametrize("cmdline, comm", [
    (b"(lv\0pvmove\0-b\0/dev/sda\0", "lvm"),  # 2.03.16..2.03.39, started as `lvm`
    (b"(lvm2)\0\0\0\0\0\0\0pvmove\0-b\0/dev/sda\0", "lvm"),  # 2.03.16, started as /usr/sbin/lvm
    (b"(lvm2)\0in/lvm\0pvmove\0-b\0/dev/sda\0", "lvm"),  # main, started as /usr/sbin/lvm: the tail stays
    (b"(lvm2)\0vmove\0-b\0/dev/sda\0", "pvmove"),  # main, started as /sbin/pvmove
    (b"(lvm2)\0\0\0\0\0\0-b\0/dev/sda\0", "pvmove"),  # 2.03.16, started as /sbin/pvmove
    (b"\0\0\0\0pvmove\0-b\0/dev/sda\0", "lvm"),  # whatever a later LVM writes there
], ids=["2.03.16-lvm", "2.03.16-/usr/sbin/lvm", "main-/usr/sbin/lvm", "main-/sbin/pvmove", "2.03.16-/sbin/pvmove",
        "blank-argv0"])
def test_every_spelling_of_the_forked_poller_is_one_pvmove(proc_tree: Path, lvm_bin: Path, cmdline: bytes,
                                                           comm: str) -> None:
    lvm_proc(proc_tree, 202, cmdline, lvm_bin, comm)
    (found,) = procscan.other_pollers(LvRef("vg", "pvmove0"), "/dev/sda", set())
    assert (found.lvm_command, found.lvm_args) == ("pvmove", ("-b", "/dev/sda"))


def test_a_process_that_only_looks_like_lvm_is_not_lvm(proc_tree: Path, lvm_bin: Path) -> None:
    lvm_proc(proc_tree, 203, b"lvm\0lvpoll\0--polloperation\0pvmove\0vg/pvmove0\0", Path("/bin/sh"))
    lvm_proc(proc_tree, 204, b"(lv\0pvmove\0/dev/sda\0", Path("/bin/sh"))
    assert procscan.other_pollers(LvRef("vg", "pvmove0"), "/dev/sda", set()) == []


def test_lvm_replaced_on_disk_is_still_lvm(proc_tree: Path, lvm_bin: Path) -> None:
    """A package upgrade while lvmpolld's lvpoll runs: its exe link reads "/usr/sbin/lvm (deleted)"."""
    lvm_proc(proc_tree, 206, b"/usr/sbin/lvm\0lvpoll\0--polloperation\0pvmove\0vg/pvmove0\0", None)
    (proc_tree / "206" / "exe").symlink_to(f"{lvm_bin} (deleted)")
    assert [p.pid for p in procscan.other_pollers(LvRef("vg", "pvmove0"), "/dev/sda", set())] == [206]


def test_without_exe_the_spelling_decides(proc_tree: Path, lvm_bin: Path) -> None:
    """Another user's process (exe unreadable without privileges): argv[0] as LVM writes it, any generation."""
    lvm_proc(proc_tree, 207, b"(l\0\0pvmove\0-b\0/dev/sda\0", None)
    lvm_proc(proc_tree, 208, b"(lv\0pvmove\0-b\0/dev/sda\0", None)
    lvm_proc(proc_tree, 209, b"python3\0pvmove\0/dev/sda\0", None, comm="python3")
    found = procscan.other_pollers(LvRef("vg", "pvmove0"), "/dev/sda", set())
    assert sorted(p.pid for p in found) == [207, 208]


def test_launched_pollers_are_the_new_ones_in_our_cgroup(proc_tree: Path, lvm_bin: Path) -> None:
    own = Path("/proc/self/cgroup").read_text()
    for pid in (210, 211, 212, 213):
        lvm_proc(proc_tree, pid, b"\0".join([b"(l", b"", b"pvmove", *WARM_ARGS]) + b"\0", lvm_bin)
        (proc_tree / str(pid) / "cgroup").write_text(own)
    (proc_tree / "212" / "cgroup").write_text("0::/system.slice/other.service\n")  # somebody else's
    (proc_tree / "213" / "cmdline").write_bytes(b"(l\0\0pvmove\0-b\0/dev/sdz\0")  # another source PV
    before = {210}
    assert [p.pid for p in procscan.launched_pollers("/dev/sda", before)] == [211]
