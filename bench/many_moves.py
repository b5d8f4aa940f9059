#!/usr/bin/python3
"""Guest-side set-up for bench/perf.py's status figure: COUNT small VGs, each with one move in flight.

    many_moves.py COUNT DIR [--workers N]

Each VG gets two loop PVs (sparse files in DIR, direct I/O so the loop devices add no second page cache),
one 1-MiB LV, and a move set up the way `lvmove move` does it: LVM's pvmove with `-i +86400` creates and
activates pvmoveN, commits and goes to sleep before its first check, where SIGINT (LVM's safe point) ends it
and leaves the move in flight, unpolled. Every LVM call names its two devices (`--devices`), so it scans
those two instead of all the loop devices made so far. A few VGs are set up at once. Prints how many moves
were set up and how long it took, as one JSON line.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lvmove_hooks import runner
from lvmove_hooks.lvmpoller import interrupt_in_sleep

PV_MIB = 8


def loop_device(path: Path) -> str:
    runner.run(["truncate", "-s", f"{PV_MIB}M", str(path)], mutating=True)
    return runner.run(["losetup", "--show", "--direct-io=on", "-f", str(path)], mutating=True).stdout.strip()


def one_vg(index: int, pvs: tuple[str, str]) -> bool:
    a, b = pvs
    devices = f"{a},{b}"
    vg = f"m{index}"
    if not runner.run(["lvm", "vgcreate", "-q", "-s", "1m", "--devices", devices, vg, a, b], mutating=True,
                      check=False).ok:
        return False
    if not runner.run(["lvm", "lvcreate", "-q", "-y", "--devices", devices, "-n", "lv", "-L", "1m", vg, a],
                      mutating=True, check=False).ok:
        return False
    with tempfile.TemporaryFile() as output:
        proc = runner.spawn(["lvm", "pvmove", "--devices", devices, "--config", "global/use_lvmpolld=0",
                             "-i", "+86400", a, b], output)
        # SIGINT in LVM's sleep before its first check, as lvmove stops a poller: the move stays in flight.
        if not interrupt_in_sleep(proc.pid, lambda: proc.poll() is None, "pvmove"):
            proc.wait()
            return False
    listed = runner.run(["lvm", "lvs", "-a", "--readonly", "--devices", devices, "--noheadings", "-o", "lv_name",
                         vg], check=False)
    return "pvmove" in listed.stdout


def main(argv: list[str]) -> int:
    count, where = int(argv[0]), Path(argv[1])
    workers = int(argv[3]) if len(argv) > 3 and argv[2] == "--workers" else 3
    where.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    loops = [loop_device(where / f"pv{i}") for i in range(2 * count)]
    pairs = [(loops[2 * i], loops[2 * i + 1]) for i in range(count)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        made = sum(pool.map(lambda i: one_vg(i + 1, pairs[i]), range(count)))
    print(json.dumps({"kind": "many_setup", "asked": count, "made": made,
                      "seconds": round(time.monotonic() - start, 1), "workers": workers}))
    return 0 if made == count else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
