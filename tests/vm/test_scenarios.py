"""lvmove on real LVM2 2.03.16 in a qemu guest: crash, reboot, resume, finish (issue 5 scenarios).

Each test is one machine (one or two boots). Guest scripts in scenarios/ do the LVM work and write
PASS/FAIL checks; the host crashes (SIGKILL qemu), reboots and asserts that every expected check passed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import Run, new_run
from .image import Image

pytestmark = pytest.mark.vm

MIB = 1024 * 1024
COMMON = (
    "unit-started-by-itself",
    "unit-reported-progress",
    "unit-journal-started",
    "unit-journal-completed",
    "unit-never-failed",
    "pvmove-finished",
    "lvs-off-source",
    "dev-links",
    "checksums-vg",
    "vgck-vg",
)


def crash_and_resume(
    name: str, image: Image, payload: Path, keep: bool, *, bus: str = "scsi", phase2_bps: int = 2 * MIB,
    env: dict[str, str] | None = None, required: tuple[str, ...] = COMMON, phase2_timeout: float = 900,
) -> Run:
    run = new_run("crash", image, bus=bus, pv_count=2, payload=payload, tag=name, env=env)
    try:
        run.crash_phase(1, timeout=420)
        run.guest.boot_bps = phase2_bps
        run.final_phase(2, timeout=phase2_timeout)
        run.assert_ok(*required)
    finally:
        run.close(keep=keep)
    return run


def test_s1_crash_resume_scsi(vm_image: Image, lvmove_payload: Path, keep_disks: bool) -> None:
    """1: crash mid by-segment move (2 LVs, 3 segments); PVs on virtio-scsi (after switch-root)."""
    crash_and_resume("s1-scsi", vm_image, lvmove_payload, keep_disks, env={"CAPTURE_NAME": "s1"})


def test_s2_s8_no_lvmpolld_kill_stop(vm_image: Image, lvmove_payload: Path, keep_disks: bool) -> None:
    """2: use_lvmpolld=0 (stock LVM stalls); 8: unit SIGKILLed, restarted, stopped, started mid-move."""
    killstop = (
        "killstop-consistent-after-sigkill", "killstop-restarted", "killstop-stop-rc",
        "killstop-no-lvpoll-after-stop", "killstop-consistent-after-stop",
    )
    crash_and_resume(
        "s2-nolvmpolld", vm_image, lvmove_payload, keep_disks, phase2_bps=MIB,
        env={"LVMCONF_SET": "global/use_lvmpolld=0", "KILL_STOP": "1", "CRASH_AT": "42", "CAPTURE_NAME": "s2"},
        required=COMMON + killstop,
    )


def test_s3_crash_resume_virtio_blk(vm_image: Image, lvmove_payload: Path, keep_disks: bool) -> None:
    """3: PVs on virtio-blk: the initramfs activates the VG; its poller dies at udev settle's 120 s."""
    crash_and_resume(
        "s3-blk", vm_image, lvmove_payload, keep_disks, bus="blk", phase2_bps=256 * 1024,
        env={"CRASH_AT": "15", "UNTHROTTLE_WHEN_RUNNING": "1", "CAPTURE_NAME": "s3"}, phase2_timeout=1200,
    )


def test_s4_atomic_crash_and_abort(vm_image: Image, lvmove_payload: Path, keep_disks: bool) -> None:
    """4: --atomic move crashed mid-way resumes and finishes; then an atomic move aborted: all on source."""
    crash_and_resume(
        "s4-atomic", vm_image, lvmove_payload, keep_disks,
        env={"MOVE_ARGS": "--atomic", "ABORT_ATOMIC": "1", "CRASH_AT": "40", "CAPTURE_NAME": "s4"},
        required=COMMON + ("atomic-abort-rc", "atomic-abort-pvmove-gone", "atomic-abort-all-on-source"),
    )
