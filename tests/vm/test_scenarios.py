"""lvmove on real LVM2 in qemu guests: crash, reboot, resume, finish (issue 5 scenarios), on every LVM
generation that LVMOVE_VM_MATRIX names (see generations.py; default: every machine on bookworm).

Each test is one machine (one or two boots) on one generation. Guest scripts in scenarios/ do the LVM work
and write PASS/FAIL checks; the host crashes (SIGKILL qemu), reboots and asserts that every expected check
passed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from . import crashmatrix
from .generations import Generation, from_environment, machine_of
from .harness import Run, new_run
from .image import Image
from .lvmbuild import LvmTree

pytestmark = pytest.mark.vm


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each machine runs once per generation of the matrix that lists it; `vm_image` is that generation's."""
    if "vm_image" not in metafunc.fixturenames:
        return
    machine = machine_of(metafunc.function.__name__)
    gens = [g for g, machines in from_environment().items() if machine in machines]
    metafunc.parametrize("generation", gens, ids=[g.name for g in gens], indirect=True)

MIB = 1024 * 1024
COMMON = (
    "unit-started-by-itself",
    "unit-reported-progress",
    "status-follows-lvs",
    "unit-journal-started",
    "unit-journal-completed",
    "unit-never-failed",
    "pvmove-finished",
    "lvs-off-source",
    "dev-links",
    "checksums-vg",
    "vgck-vg",
    "nothing-broken-vg",
)


def crash_and_resume(
    name: str,
    image: Image,
    payload: Path,
    keep: bool,
    *,
    bus: str = "scsi",
    phase2_bps: int = 2 * MIB,
    env: dict[str, str] | None = None,
    required: tuple[str, ...] = COMMON,
    phase1_timeout: float = 420,
    phase2_timeout: float = 900,
) -> Run:
    run = new_run("crash", image, bus=bus, pv_count=2, payload=payload, tag=name, env=env)
    try:
        run.crash_phase(1, timeout=phase1_timeout)
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
        "killstop-consistent-after-sigkill",
        "killstop-restarted",
        "killstop-stop-rc",
        "killstop-no-lvpoll-after-stop",
        "killstop-consistent-after-stop",
    )
    crash_and_resume(
        "s2-nolvmpolld",
        vm_image,
        lvmove_payload,
        keep_disks,
        phase2_bps=200 * 1024,
        env={"LVMCONF_SET": "global/use_lvmpolld=0", "KILL_STOP": "1", "CRASH_AT": "42", "CAPTURE_NAME": "s2",
             "EXPECT_WARM": "1"},
        required=COMMON + killstop + ("warm-poller-woken",),
    )


def test_s3_crash_resume_virtio_blk(vm_image: Image, lvmove_payload: Path, keep_disks: bool) -> None:
    """3: PVs on virtio-blk: the VG is activated in the initramfs, which lvmove's initramfs-tools hook keeps
    from polling (`--poll n`); lvmove finishes after switch-root. The phase-2 log records the boot's time to
    the test runner (`boot-to-runner`; compare s7, the same crash with stock LVM's initramfs)."""
    crash_and_resume(
        "s3-blk",
        vm_image,
        lvmove_payload,
        keep_disks,
        bus="blk",
        phase2_bps=256 * 1024,
        env={
            "CRASH_AT": "15",
            "UNTHROTTLE_WHEN_RUNNING": "1",
            "CAPTURE_NAME": "s3",
            "EXPECT_INITRAMFS_ACTIVATION": "1",
            "INITRAMFS_HOOK": "1",
            "EXPECT_NO_INITRAMFS_POLLER": "1",
        },
        required=(*COMMON, "vg-activated-in-initramfs", "initramfs-hook", "no-initramfs-poller", "boot-to-runner"),
        phase1_timeout=900,
        phase2_timeout=1200,
    )


def test_s7_initramfs_polls_stock(vm_image: Image, lvmove_payload: Path, keep_disks: bool) -> None:
    """7: as s3 but with stock LVM's initramfs (no lvmove hook) and a resumed copy slower than 120 s: the
    initramfs's vgchange forks LVM's poller, which may hold the boot and survive switch-root without
    checkpointing; lvmove watches it and takes over when the kernel has had the segment in sync too long.
    The copy is throttled through the initramfs (longer than udev's 120 s settle) and let go once the runner
    has seen progress after switch-root (the rest at 128 KiB/s took 11 minutes and showed nothing more)."""
    crash_and_resume(
        "s7-blk-stock-initramfs",
        vm_image,
        lvmove_payload,
        keep_disks,
        bus="blk",
        phase2_bps=128 * 1024,
        env={
            "CRASH_AT": "15",
            "CAPTURE_NAME": "s7",
            "UNTHROTTLE_WHEN_RUNNING": "1",
            "EXPECT_INITRAMFS_ACTIVATION": "1",
            "INITRAMFS_HOOK": "0",
        },
        required=(*COMMON, "vg-activated-in-initramfs", "boot-to-runner"),
        phase2_timeout=1500,
    )


def test_s4_atomic_crash_and_abort(vm_image: Image, lvmove_payload: Path, keep_disks: bool) -> None:
    """4: --atomic move crashed mid-way resumes and finishes; then an atomic move aborted: all on source."""
    crash_and_resume(
        "s4-atomic",
        vm_image,
        lvmove_payload,
        keep_disks,
        env={"MOVE_ARGS": "--atomic", "ABORT_ATOMIC": "1", "CRASH_AT": "40", "CAPTURE_NAME": "s4"},
        required=(*COMMON, "atomic-abort-rc", "atomic-abort-pvmove-gone", "atomic-abort-all-on-source"),
    )


def test_s5_s9_s10_healthy_system(vm_image: Image, lvmove_payload: Path, keep_disks: bool) -> None:
    """9: a user's foreground pvmove: unit appears, shows progress, one poller only; 10: status --json
    and systemctl status show the lvs percent; 5: by-segment move aborted half-way with `lvmove abort`;
    11: LVM's own `pvmove --abort` of a move lvmove carries ends the unit cleanly; 12: LVM's finish with the
    pvmove device held open (an orphan on 2.03.31) leaves no pvmove LV once it is let go; 13: Debian's
    prometheus-node-exporter serves the move's metrics on /metrics mid-move, not after it, then the counter;
    the unit's `systemd-analyze security` exposure <= 5.0 and `systemd-analyze verify` clean in the guest."""
    run = new_run("healthy", vm_image, pv_count=3, payload=lvmove_payload, tag="s5-s9-s10-healthy")
    try:
        run.final_phase(1, timeout=900)
        run.assert_ok(
            "s9-unit-appeared",
            "s9-user-pvmove-rc",
            "s9-at-most-one-poller",
            "s9-unit-progress",
            "s9-unit-completed",
            "s10-status-matches-lvs",
            "s13-node-exporter-up",
            "s13-metrics-served-mid-move",
            "s13-move-metrics-gone-after",
            "s13-completed-counter",
            "s13-security-exposure",
            "s13-analyze-verify",
            "warm-call-starts-no-move",
            "s5-abort-rc",
            "s5-pvmove-gone",
            "s5-abort-said-true",
            "s11-lvm-abort-rc",
            "s11-unit-ended-cleanly",
            "s11-journal-aborted",
            "s11-no-failure",
            "s12-no-orphan-left",
            "checksums-vg",
            "vgck-vg",
            "nothing-broken-vg",
        )
    finally:
        run.close(keep=keep_disks)


def test_s6_s7_inactive_and_two_vgs(vm_image: Image, lvmove_payload: Path, keep_disks: bool) -> None:
    """7: moves in VGs "vg", "data-vg", "vg3" crashed; data-vg autoactivates and its unit
    lvmove@data\\x2dvg-pvmove0 runs by itself; 6: the inactive ones resume via systemctl start / lvmove start."""
    run = new_run("twovg", vm_image, pv_count=6, payload=lvmove_payload, tag="s6-s7-three-vgs")
    try:
        run.crash_phase(1, timeout=600)
        # 64 KiB/s until data-vg's unit says it carries the move (twovg.sh then asks for 1 MiB/s): at 1 MiB/s
        # from boot on, a starved guest's lvmpolld had finished data-vg's copy before the unit's body, 64 s
        # after systemd started it, read the VG (no "completed" from the unit).
        run.guest.boot_bps = 64 * 1024
        run.final_phase(2, timeout=900)
        required = [
            "unit-name-escaped",
            "data-vg-unit-started-by-itself",
            "vg-inactive-after-boot",
            "vg3-inactive-after-boot",
            "lvmove-start-rc",
        ]
        for vg in ("vg", "data-vg", "vg3"):
            required += [
                f"{vg}-unit-ran",
                f"{vg}-finished",
                f"{vg}-journal-completed",
                f"{vg}-off-source",
                f"checksums-{vg}",
                f"vgck-{vg}",
                f"nothing-broken-{vg}",
            ]
        run.assert_ok(*required)
    finally:
        run.close(keep=keep_disks)


def test_s8_missing_destination_pv(vm_image: Image, lvmove_payload: Path, keep_disks: bool) -> None:
    """8: crash mid-move, boot without the destination's disk: nothing is activated or changed, `lvmove
    status` names the PV the move waits for (UUID, last device) and exits 10, `lvmove start` refuses with
    that reason; the disk plugged in again (QMP device_add) brings the unit, which finishes the move.
    Then a second move crashed, and a boot without pv3 (an unrelated PV: only lv3 is on it): the admin's
    `vgchange -ay --activationmode partial --poll n` brings the unit, which finishes the move with lvpoll
    --handlemissingpvs; with the disk back (and `vgextend --restoremissing`) every LV is unchanged."""
    run = new_run("missingpv", vm_image, bus="scsi", pv_count=3, payload=lvmove_payload, tag="s8-missingpv")
    try:
        run.crash_phase(1, timeout=420)
        run.guest.absent = {2}
        run.crash_phase(2, timeout=900)
        run.guest.absent = {3}
        run.final_phase(3, timeout=900)
        run.assert_ok("nothing-activated", "status-exit-attention", "status-names-the-pv",
                      "start-refuses-while-waiting", "nothing-activated-after-start", "no-failed-unit-while-waiting",
                      "unit-started-when-disk-returned", "pvmove-finished", "unit-journal-completed",
                      "lvs-off-source", "checksums-vg", "vgck-vg", "nothing-broken-vg",
                      "u-status-lists-the-move", "u-pvmove-activated", "u-unit-started-by-itself", "u-pvmove-finished",
                      "u-unit-completed", "u-polled-by-lvpoll", "u-unit-never-failed", "u-off-source",
                      "u-status-clean-after")
    finally:
        run.close(keep=keep_disks)


def test_s14_crash_matrix_sample(generation: Generation, vm_image: Image, lvm_overlay: LvmTree | None,
                                 lvmove_payload: Path, keep_disks: bool) -> None:
    """The crash matrix's seeded sample (issue 10): crashmatrix.CI_POINTS points of `draw` (seed CI_SEED or
    $LVMOVE_CRASH_SEED, printed), each a fresh machine crashed where the point says and booted again with no
    action by hand: every LV's checksum, vgck, no pvmove/orphan LV, no failed lvmove unit, the journal."""
    seed = crashmatrix.ci_seed()
    ctx = crashmatrix.Context(generation, seed, keep_disks, image=vm_image, payload=lvmove_payload, lvm=lvm_overlay)
    results = [crashmatrix.run_point(point, ctx) for point in crashmatrix.draw(crashmatrix.CI_POINTS, seed)]
    table = crashmatrix.render_table(results, seed=seed, generation=generation.name)
    print(table)
    assert all(r.passed for r in results), table


def test_s15_bounded_recopy(vm_image: Image, lvmove_payload: Path, keep_disks: bool) -> None:
    """Bounded re-copy (issue 12): a 64 MiB one-segment LV moved by `lvmove move` with `max_recopy: 16M`,
    crashed at >= 60 %; the resumed mirror's regions after the reboot: at most 16 MiB, on LVM >= 2.03.36 by its
    pvmove_max_segment_size_mb, before that by lvmove's range job, which then finishes by itself."""
    run = new_run("recopy", vm_image, pv_count=2, payload=lvmove_payload, tag="s15-bounded-recopy")
    try:
        run.crash_phase(1, timeout=600)
        run.guest.boot_bps = 512 * 1024
        run.final_phase(2, timeout=900)
        version = tuple(int(x) for x in re.findall(r"\d+", run.lvm_version())[:3])
        bounded = (("recopy-bounded", "recopy-pieces") if version >= (2, 3, 36) else
                   ("range-job-started", "recopy-bounded", "range-job-finished", "range-job-journal"))
        run.assert_ok("lvmove-move", "recopy-measured", *bounded, "lvs-off-source", "checksums-vg", "vgck-vg",
                      "nothing-broken-vg")
    finally:
        run.close(keep=keep_disks)


def test_s16_admin_excluded_range_pause_noautoactivation(vm_image: Image, lvmove_payload: Path,
                                                         keep_disks: bool) -> None:
    """Issue 10 on real LVM: `lvmove move` into an excluded VG is left to LVM's poller (no unit); `lvmove move
    SRC:PE-range --wait` moves only that range; `lvmove pause` holds against a uevent and a daemon-reload, then
    `lvmove resume` finishes; LVM's forked poller stuck (SIGSTOP) is taken over and the move finished; a move
    whose LVs are kept out of autoactivation, crashed, is found by the VG check after the reboot and finished
    by policy."""
    run = new_run("admin", vm_image, pv_count=4, payload=lvmove_payload, tag="s16-admin")
    try:
        run.crash_phase(1, timeout=900)
        run.guest.boot_bps = MIB
        run.final_phase(2, timeout=900)
        run.assert_ok(
            "s16a-move-rc", "s16a-says-lvm-carries", "s16a-finished", "s16a-unit-never-carried",
            "s16a-started-at-most-once", "s16a-off-source",
            "s16b-move-rc", "s16b-carried", "s16b-unit-completed", "s16b-range-only", "s16b-range-freed",
            "s16c-move-rc", "s16c-pause-rc", "s16c-unit-stopped", "s16c-held-after-uevent-and-reload",
            "s16c-still-moving", "s16c-status-says-paused", "s16c-resume-rc", "s16c-completed", "s16c-off-source",
            "s16d-forked-poller", "s16d-poller-stopped", "s16d-finished", "s16d-took-over", "s16d-completed",
            "s16d-unit-never-failed", "s16d-stuck-poller-exited", "s16d-off-source",
            "s16e-move-rc", "s16e-vg-check-found-it", "s16e-started-inactive", "s16e-completed", "s16e-off-source",
            "checksums-vg", "vgck-vg", "nothing-broken-vg",
        )
    finally:
        run.close(keep=keep_disks)
