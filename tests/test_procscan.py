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
