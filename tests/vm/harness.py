"""Host side of the VM scenarios: set up a guest, run its phases, collect the guest's checks.

python3 -m tests.vm.harness SCENARIO [--bus scsi|blk] [--keep]   (by hand, for debugging)
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from . import lvmbuild
from .guest import Guest, GuestError
from .image import Image, build
from .lvmbuild import LvmTree
from .lvmove_pkg import prepare_payload

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
REPO = HERE.parent.parent
CAPTURED = REPO / "tests" / "fixtures" / "captured"
PANIC_REBOOTS = 2  # boots again after a guest kernel panic before the runner started (Run.phase)

log = logging.getLogger("lvmove.vm")

# What new_run() lays over the guest's lvm2 when its caller does not say: "env" = $LVMOVE_VM_LVM (built or
# cached here), or what conftest set for the running test (its generation's `lvm_overlay`).
LvmChoice = LvmTree | None | Literal["env"]
_default_lvm: LvmChoice = "env"
# (machine tag, generation, `lvm version` first line seen in the guest) of every closed run, in order.
SEEN: list[tuple[str, str, str]] = []
# (machine tag, generation, text) of every NOTE line a closed run's guest wrote (neither pass nor fail).
NOTES: list[tuple[str, str, str]] = []


def set_default_lvm(lvm: LvmChoice) -> None:
    global _default_lvm
    _default_lvm = lvm


def resolve_lvm(lvm: LvmChoice) -> LvmTree | None:
    return lvmbuild.build_selected() if lvm == "env" else lvm


def work_root() -> Path:
    return Path(os.environ.get("LVMOVE_VM_WORK", "/var/tmp/lvmove-vm-runs"))


@dataclass
class Checks:
    """The PASS/FAIL lines a guest script wrote to out/checks.txt."""

    lines: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        return [line for line in self.lines if line.startswith("FAIL")]

    def passed(self, name: str) -> bool:
        return any(line.split()[:2] == ["PASS", name] for line in self.lines)

    @property
    def notes(self) -> list[str]:
        return [line.removeprefix("NOTE ") for line in self.lines if line.startswith("NOTE ")]


@dataclass
class Run:
    name: str
    guest: Guest
    started: float = field(default_factory=time.monotonic)
    generation: str = ""
    lvm: LvmTree | None = None
    # Where to keep the initramfs the guest rebuilds with upstream LVM (virtio-blk), for later machines.
    initrd_cache: Path | None = None

    @property
    def out(self) -> Path:
        return self.guest.share / "out"

    def lvm_version(self) -> str:
        """The first line of `lvm version` in the guest's latest boot (out/lvm-version.txt), or "?"."""
        path = self.out / "lvm-version.txt"
        return (path.read_text().strip() or "?") if path.exists() else "?"

    def checks(self) -> Checks:
        path = self.out / "checks.txt"
        return Checks(path.read_text().splitlines() if path.exists() else [])

    def phase(self, phase: int, until: str = "RUNNER-END", timeout: float = 600, **kw: str) -> str:
        """Boot and run one phase of the scenario script until the marker `until`.

        A guest kernel that panics before the runner starts is booted again (up to PANIC_REBOOTS times; under
        qemu's multi-threaded TCG the kernel's boot-time code patching has panicked with "Oops: int3" in 2 of
        65 boots): for the disks that is one more crash, before anything of the scenario ran; each is noted."""
        for attempt in range(PANIC_REBOOTS + 1):
            self.guest.boot(f"{self.name}.sh", phase, kw.get("append", ""))
            try:
                marker = self.guest.drive(until, timeout)
                break
            except GuestError:
                panic = self.guest.panicked_before_runner() if not self.guest.running() else ""
                if not panic or attempt == PANIC_REBOOTS:
                    raise
                log.warning("boot %d: the guest kernel panicked before the runner (%s); booting again",
                            self.guest.boots, panic)
                self.out.mkdir(parents=True, exist_ok=True)
                with open(self.out / "checks.txt", "a") as f:
                    f.write(f"NOTE guest-kernel-panic boot {self.guest.boots} before the runner, booted again: "
                            f"{panic}\n")
        if until == "RUNNER-END":
            self.guest.wait_exit(90)
        return marker

    def crash_phase(self, phase: int, timeout: float = 600) -> None:
        """Run a phase until the guest says READY-TO-CRASH, then SIGKILL qemu."""
        self.phase(phase, "READY-TO-CRASH", timeout)
        self.guest.kill()

    def final_phase(self, phase: int, timeout: float = 900, append: str = "") -> None:
        marker = self.phase(phase, "RUNNER-END", timeout, append=append)
        if marker != "RUNNER-END rc=0":
            raise GuestError(f"phase {phase} script failed: {marker}\n{self.guest.phase_log_tail()}")

    def assert_ok(self, *required: str) -> None:
        checks = self.checks()
        problems = list(checks.failed)
        problems += [f"MISSING {name}" for name in required if not checks.passed(name)]
        if problems:
            raise GuestError(
                f"scenario {self.name} on {self.generation} (LVM {self.lvm_version()}): "
                + "; ".join(problems)
                + f"\n(see {self.out})\n{self.guest.phase_log_tail()}"
            )

    def save_capture(self, dest: Path) -> None:
        """Copy the guest's captured outputs into the repo's fixtures."""
        src = self.out / "capture"
        if src.is_dir():
            shutil.copytree(src, dest, dirs_exist_ok=True)

    def close(self, keep: bool) -> None:
        self.guest.close(keep=keep)
        rebuilt = self.guest.share / "boot" / "initrd.img"
        if self.initrd_cache is not None and rebuilt.is_file() and not self.initrd_cache.exists():
            part = self.initrd_cache.with_name(self.initrd_cache.name + f".{os.getpid()}.part")
            shutil.copy2(rebuilt, part)
            part.rename(self.initrd_cache)
            log.info("kept the guest's initramfs with upstream LVM: %s", self.initrd_cache)
        version = self.lvm_version()
        SEEN.append((self.guest.workdir.name, self.generation, version))
        NOTES.extend((self.guest.workdir.name, self.generation, text) for text in self.checks().notes)
        log.info("%s on %s: guest LVM %s (%.1fs)", self.guest.workdir.name, self.generation, version,
                 time.monotonic() - self.started)


def new_run(
    name: str,
    image: Image,
    *,
    bus: str = "scsi",
    pv_count: int = 3,
    payload: Path | None = None,
    boot_bps: int = 0,
    tag: str = "",
    env: dict[str, str] | None = None,
    lvm: LvmChoice | Literal["default"] = "default",
) -> Run:
    """A fresh machine for scenario `name` with the scripts (and lvmove) in its share.

    lvm: upstream LVM2 to lay over the guest's own at the start of each boot (lvmbuild.LvmTree), None for
    the suite's lvm2, "env" for $LVMOVE_VM_LVM; not given: what conftest set for the running test (its
    `lvm_overlay`), else $LVMOVE_VM_LVM."""
    tree = resolve_lvm(_default_lvm if lvm == "default" else lvm)
    gen = lvmbuild.generation(image.suite, tree.name if tree else None)
    workdir = work_root() / f"{tag or name}-{gen}"  # one per generation: each run's logs are kept
    if workdir.exists():
        shutil.rmtree(workdir)
    guest = Guest(image=image, workdir=workdir, pv_count=pv_count, bus=bus, boot_bps=boot_bps)
    for script in SCENARIOS.glob("*.sh"):
        shutil.copy2(script, guest.share / script.name)
    overlay_env = {"LVM_GENERATION": gen}
    if tree is not None:
        (guest.share / "lvm").mkdir()
        shutil.copy2(tree.tarball, guest.share / "lvm" / f"{tree.tag}.tar")
        overlay_env |= {
            "LVM_OVERLAY": f"lvm/{tree.tag}.tar",
            "LVM_OVERLAY_ID": tree.tag,
            "LVM_OVERLAY_VERSION": tree.short_version,
        }
    initrd_cache = None
    if tree is not None and bus == "blk":
        # PVs on virtio-blk are seen by the initramfs: it must hold the upstream LVM too. The first such
        # machine rebuilds it in the guest (update-initramfs, ~3 min under TCG) and leaves it in the share as
        # boot/initrd.img; it is kept beside the tree, per image, and later machines boot it from the start.
        initrd_cache = tree.directory / f"initrd-{image.directory.name}.img"
        if initrd_cache.is_file():
            (guest.share / "boot").mkdir()
            shutil.copy2(initrd_cache, guest.share / "boot" / "initrd.img")
        overlay_env["LVM_OVERLAY_INITRAMFS"] = "0" if initrd_cache.is_file() else "1"
    lines = [f"{key}={shlex.quote(value)}" for key, value in ({**overlay_env, **(env or {})}).items()]
    (guest.share / "scenario.env").write_text("".join(line + "\n" for line in lines))
    if payload is not None:
        shutil.copytree(payload, guest.share, dirs_exist_ok=True)
    log.info("machine %s (%s) on %s", tag or name, name, gen + (f" ({tree.version})" if tree else ""))
    return Run(name=name, guest=guest, generation=gen, lvm=tree, initrd_cache=initrd_cache)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.vm.harness")
    parser.add_argument("scenario")
    parser.add_argument("--bus", default="scsi", choices=("scsi", "blk"))
    parser.add_argument("--pvs", type=int, default=3)
    parser.add_argument("--no-lvmove", action="store_true")
    parser.add_argument("--phase2-bps", type=int, default=0)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--lvm", default=None, help="upstream LVM2 to lay over (2.03.39, main; default $LVMOVE_VM_LVM)")
    parser.add_argument("--single", action="store_true", help="one boot, no crash (healthy.sh)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    image = build()
    payload = None if args.no_lvmove else prepare_payload(work_root() / "payload")
    lvm: LvmChoice = lvmbuild.build(args.lvm) if args.lvm else "env"
    run = new_run(args.scenario, image, bus=args.bus, pv_count=args.pvs, payload=payload, lvm=lvm)
    try:
        if not args.single:
            run.crash_phase(1)
            run.guest.boot_bps = args.phase2_bps
        run.final_phase(1 if args.single else 2)
        run.assert_ok()
    finally:
        run.close(keep=args.keep)
    print(f"{args.scenario} on {run.generation} (LVM {run.lvm_version()}): ok in {time.monotonic() - run.started:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
