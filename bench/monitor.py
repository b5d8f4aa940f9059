#!/usr/bin/python3
"""Guest-side probe for bench/perf.py: watch one pvmove device through DM ioctls (no process, no lock).

For every mirroring segment it records when the kernel reported it fully in sync and when the table moved
on (LVM's checkpoint or finish committed), and when the device went away. With `--cgroup NAME=DIR` it also
reads that cgroup's CPU usage (cpu.stat usage_usec) whenever a segment comes into sync, so the CPU spent
between the first and the last in-sync moment (the steady copy, its checkpoints included, without start-up
and finish) can be compared, and each live process's CPU ticks in that cgroup (proc_ticks). With
`--poller VG/LV=SRC_PV` it also notes, for each segment in sync, when
an LVM poller of that move (lvpoll, or a forked `pvmove` poller; found as lvmove finds them) was first seen
out of its sleep: "in sync -> poller awake" is the noticing, "awake -> moved on" is LVM's own checkpoint.
Prints one JSON object.

    monitor.py DMNAME [--appear-timeout S] [--cgroup NAME=DIR ...] [--poller VG/LV=SRC_PV]
"""

from __future__ import annotations

import json
import sys
import time

from lvmove_hooks import dmioctl, dmstatus, procscan
from lvmove_hooks.names import parse_lvref

PERIOD = 0.05
FAST_PERIOD = 0.02  # while a segment is in sync and LVM has not moved on


def poller_pids(ref_src: tuple[str, str] | None) -> list[int]:
    """The move's LVM pollers now (one /proc scan)."""
    if ref_src is None:
        return []
    ref, src = ref_src
    return [p.pid for p in procscan.other_pollers(parse_lvref(ref), src, set())]


def any_awake(pids: list[int]) -> bool:
    return any(procscan.pid_alive(pid) and not procscan.is_sleeping(pid) for pid in pids)


def cgroup_usec(path: str) -> int | None:
    try:
        with open(f"{path}/cpu.stat", encoding="ascii") as stat:
            for line in stat:
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value)
    except (OSError, ValueError):
        pass
    return None


def process_ticks(path: str) -> dict[str, int]:
    """CPU clock ticks (user + system) of each live process in the cgroup, keyed "comm[pid]": where the
    cgroup's usage goes (lvmove's Python against LVM's poller)."""
    ticks: dict[str, int] = {}
    try:
        with open(f"{path}/cgroup.procs", encoding="ascii") as procs:
            pids = [int(line) for line in procs if line.strip()]
    except (OSError, ValueError):
        return ticks
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
                text = stat.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        ticks[f"{comm}[{pid}]"] = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks


def main(argv: list[str]) -> int:
    name = argv[0]
    appear_timeout = 120.0
    cgroups: dict[str, str] = {}
    poller: tuple[str, str] | None = None
    pids: list[int] = []
    rescan_at = 0.0
    rest = argv[1:]
    while rest:
        if rest[0] == "--appear-timeout":
            appear_timeout, rest = float(rest[1]), rest[2:]
        elif rest[0] == "--poller":
            ref, _, src = rest[1].partition("=")
            poller, rest = (ref, src), rest[2:]
        elif rest[0] == "--cgroup":
            key, _, path = rest[1].partition("=")
            cgroups[key], rest = path, rest[2:]
        else:
            raise SystemExit(f"monitor.py: unknown argument {rest[0]}")
    ctl = dmioctl.DmControl()
    start = time.monotonic()
    while ctl.read(name) is None:
        if time.monotonic() - start > appear_timeout:
            print(json.dumps({"error": f"{name} never appeared"}))
            return 1
        time.sleep(0.01)
    seen = time.monotonic()
    seen_wall = time.time()
    cpu_seen = {group: cgroup_usec(path) for group, path in cgroups.items()}
    segments: list[dict[str, object]] = []
    current: dict[str, object] | None = None
    while True:
        state = ctl.read(name)
        now = time.monotonic()
        if state is None:
            if current is not None and current.get("moved_on") is None:
                current["moved_on"] = now - seen
            break
        mirrors = [s.mirror for s in dmstatus.parse_status(state.status) if s.mirror is not None]
        seg = (mirrors[0].start, mirrors[0].length) if mirrors else None
        if current is not None and (seg is None or (current["start"], current["length"]) != seg):
            if current.get("moved_on") is None:
                current["moved_on"] = now - seen
            current = None
        if seg is not None and current is None:
            current = {"start": seg[0], "length": seg[1], "synced": None, "moved_on": None}
            segments.append(current)
        if current is not None and mirrors and mirrors[0].synced and current["synced"] is None:
            current["synced"] = now - seen
            current["cpu_usec"] = {group: cgroup_usec(path) for group, path in cgroups.items()}
            current["proc_ticks"] = {group: process_ticks(path) for group, path in cgroups.items()}
        waiting = current is not None and current["synced"] is not None and current.get("moved_on") is None
        if waiting and current is not None and poller is not None and current.get("poller_awake") is None:
            if not pids or now >= rescan_at:  # find the pollers once per segment, then only read their state
                pids, rescan_at = poller_pids(poller), now + 0.5
            if any_awake(pids):
                current["poller_awake"] = now - seen
        elif not waiting:
            pids = []
        time.sleep(FAST_PERIOD if waiting else PERIOD)
    gone = time.monotonic() - seen
    cpu_gone = {group: cgroup_usec(path) for group, path in cgroups.items()}
    print(json.dumps({"device": name, "appeared_wall": seen_wall, "duration": gone, "segments": segments,
                      "cpu_usec_seen": cpu_seen, "cpu_usec_gone": cpu_gone}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
