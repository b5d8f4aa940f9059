"""Record real LVM2 outputs from a guest into tests/fixtures/captured/<suite>/ (for the unit tests).

    python3 -m tests.vm.capture [--suite bookworm] [--lvm 2.03.39|main]

Into tests/fixtures/captured/<generation>/ (`trixie`, `bookworm+main`: with --lvm, or $LVMOVE_VM_LVM, upstream
LVM2 laid over the suite's). Stock LVM2, no lvmove: a by-segment move (LVM's forked poller, use_lvmpolld=0,
so /proc shows its argv) and an --atomic move (lvmpolld) mid-way (lvs JSON with the fields of
docs/ARCHITECTURE.md, with and without --readonly; --segments text; dmsetup table/status/info; udevadm info
of the dm devices; /etc/lvm/backup; /sys/block/dm-*/dm), a crash during the atomic move, and the resumed
move after the reboot, finished by stock LVM (lvmpolld, PVs on virtio-scsi).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys

from . import lvmbuild
from .harness import CAPTURED, LvmChoice, new_run
from .image import build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.vm.capture")
    parser.add_argument("--suite", default="bookworm")
    parser.add_argument("--lvm", choices=("2.03.39", "main"), help="upstream LVM2 over the suite's (lvmbuild)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    lvm: LvmChoice = lvmbuild.build(args.lvm) if args.lvm else "env"
    run = new_run("capture", build(args.suite), pv_count=3, payload=None, tag="capture", lvm=lvm)
    try:
        run.crash_phase(1)
        run.guest.boot_bps = 2 * 1024 * 1024
        run.final_phase(2)
        dest = CAPTURED / run.generation
        if dest.exists():
            shutil.rmtree(dest)
        run.save_capture(dest)
        for name in ("phase1.log", "phase2.log", "journal-boot1-lvm.txt", "journal-boot2-lvm.txt"):
            if (run.out / name).exists():
                shutil.copy2(run.out / name, dest / name)
        run.assert_ok("stock-finishes", "checksums-vg", "vgck-vg")
    finally:
        run.close(keep=False)
    print(f"captured into {CAPTURED / run.generation} (LVM {run.lvm_version()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
