#!/usr/bin/python3
"""Guest-side probe for bench/perf.py: watch one pvmove device through DM ioctls (no process, no lock).

For every mirroring segment it records when the kernel reported it fully in sync and when the table moved
on (LVM's checkpoint or finish committed), and when the device went away. Prints one JSON object.

    monitor.py DMNAME [--appear-timeout S]
"""

from __future__ import annotations

import json
import sys
import time

from lvmove_hooks import dmioctl, dmstatus

PERIOD = 0.05


def main(argv: list[str]) -> int:
    name = argv[0]
    appear_timeout = float(argv[2]) if len(argv) > 2 and argv[1] == "--appear-timeout" else 120.0
    ctl = dmioctl.DmControl()
    start = time.monotonic()
    while ctl.read(name) is None:
        if time.monotonic() - start > appear_timeout:
            print(json.dumps({"error": f"{name} never appeared"}))
            return 1
        time.sleep(0.01)
    seen = time.monotonic()
    seen_wall = time.time()
    segments: list[dict[str, float | int | None]] = []
    current: dict[str, float | int | None] | None = None
    while True:
        state = ctl.read(name)
        now = time.monotonic()
        if state is None:
            if current is not None and current.get("moved_on") is None:
                current["moved_on"] = now - seen
            break
        mirrors = [s.mirror for s in dmstatus.parse_status(state.status) if s.mirror is not None]
        key = (mirrors[0].start, mirrors[0].length) if mirrors else None
        if current is not None and (key is None or (current["start"], current["length"]) != key):
            if current.get("moved_on") is None:
                current["moved_on"] = now - seen
            current = None
        if key is not None and current is None:
            current = {"start": key[0], "length": key[1], "synced": None, "moved_on": None}
            segments.append(current)
        if current is not None and mirrors and mirrors[0].synced and current["synced"] is None:
            current["synced"] = now - seen
        time.sleep(PERIOD)
    gone = time.monotonic() - seen
    print(json.dumps({"device": name, "appeared_wall": seen_wall, "duration": gone, "segments": segments}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
