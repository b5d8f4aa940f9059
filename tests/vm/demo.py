"""The README's demo: a throwaway Debian 12 guest, a pvmove crashed mid-way, lvmove finishing it after reboot.

sudo ./demo.sh            (installs what it needs, then runs `python3 -m tests.vm.demo`)
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path

from .harness import new_run, work_root
from .image import build
from .lvmove_pkg import prepare_payload

FOLLOWED = ("phase1.log", "phase2.log", "progress-vg.txt")


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def follow(out: Path, stop: threading.Event) -> None:
    """Print what the guest writes to its logs in the share, as it writes it."""
    offsets: dict[str, int] = {}
    while not stop.is_set():
        for name in FOLLOWED:
            path = out / name
            try:
                data = path.read_bytes()
            except OSError:
                continue
            start = offsets.get(name, 0)
            if len(data) > start:
                end = data.rfind(b"\n", start) + 1
                if end > start:
                    for line in data[start:end].decode(errors="replace").splitlines():
                        print(f"  guest {name.split('.')[0]:>9} | {line}", flush=True)
                    offsets[name] = end
        stop.wait(0.5)


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)
    started = time.monotonic()
    say("building (or reusing) the Debian 12 guest image: a few minutes the first time, cached afterwards")
    image = build()
    say("building the lvmove .deb that the guest installs (make deb; its output goes to make-deb.log)")
    log_path = work_root() / "make-deb.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    saved = os.dup(1)
    with open(log_path, "wb") as quiet:
        os.dup2(quiet.fileno(), 1)
        try:
            payload = prepare_payload(work_root() / "payload-demo")
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
    run = new_run(
        "crash",
        image,
        bus="scsi",
        pv_count=2,
        payload=payload,
        tag="demo",
        env={"CRASH_AT": "40", "CAPTURE_NAME": "demo", "LVMCONF_SET": "global/use_lvmpolld=0"},
    )
    stop = threading.Event()
    tail = threading.Thread(target=follow, args=(run.out, stop), daemon=True)
    tail.start()
    try:
        say(
            "boot 1: install lvmove, set use_lvmpolld=0 (stock LVM 2.03.16 then leaves an interrupted move "
            "stuck after a reboot), make a VG with two LVs on pv1, write random data, `pvmove pv1 pv2` "
            "(throttled to 2 MiB/s), then crash the VM at 40 % (SIGKILL qemu)"
        )
        run.crash_phase(1, timeout=420)
        say("CRASH: qemu killed mid-move. Booting again on the same disks; nothing is done by hand from here")
        run.guest.boot_bps = 2 * 1024 * 1024
        run.final_phase(2, timeout=900)
    finally:
        time.sleep(1.0)
        stop.set()
        tail.join(timeout=5)
        run.close(keep=False)
    journal = run.out / "journal-unit.txt"
    if journal.exists():
        say("what lvmove@vg-pvmove0.service logged on boot 2 (journalctl -u lvmove@vg-pvmove0)")
        print(journal.read_text(errors="replace"), end="")
    checks = run.checks()
    say("verdict")
    for line in checks.lines:
        print(f"  {line}")
    before = (run.out / "sums.vg.before").read_text().split() if (run.out / "sums.vg.before").exists() else []
    after = (run.out / "sums.vg.after").read_text().split() if (run.out / "sums.vg.after").exists() else []
    same = bool(before) and before == after
    print(f"\n  data checksums before the crash and after lvmove finished: {'IDENTICAL' if same else 'DIFFERENT'}")
    ok = same and not checks.failed and checks.passed("pvmove-finished")
    print(f"  demo {'PASSED' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s (guest logs: {run.out})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
