"""Issue-4 benchmark: lvmove vs stock LVM polling, side by side in one guest run, printed as ratios.

    sudo python3 -m bench.perf [--suite trixie] [--rounds 3] [--many 100] [--skip-guest]

In one Debian guest (bookworm by default, or --suite; qemu TCG, the suite's real LVM2, lvmove installed),
on the same disks and throttle:
stock (`pvmove -b -i 15`, lvmpolld's lvpoll) and lvmove (`lvmove move`, kernel-watch) alternate; a probe
(bench/monitor.py, DM ioctls every 50 ms) times each segment from "kernel mirror in sync" to "table moved
on" (LVM's checkpoint or finish committed). Then: unit start latency after a pvmove device appears,
`lvmove status` with many moves in flight, and (on the host) the generator on fake sysfs trees.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def fmt(value: float | None, unit: str = "", digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.3f}"


# ---- guest part -----------------------------------------------------------------------------------------

def run_guest(suite: str, rounds: int, many: int, keep: bool, segments: int, bps: int) -> list[dict[str, Any]]:
    from bench.guestrun import run_script

    return run_script(suite, HERE / "guest_perf.sh", tag=f"bench-{suite}", pv_count=3, keep=keep,
                      env={"ROUNDS": str(rounds), "MANY": str(many), "SEGMENTS": str(segments), "BPS": str(bps)},
                      files=(HERE / "monitor.py", HERE / "many_moves.py"))


def guest_title(records: list[dict[str, Any]]) -> str:
    """Which guest the records come from (older result files have no "guest" record: bookworm)."""
    guest = next((r for r in records if r.get("kind") == "guest"), {"suite": "bookworm", "lvm": "LVM2 2.03.16"})
    return f"{guest['suite']} guest, qemu TCG, {guest['lvm']}"


def move_rows(records: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    by_mode: dict[str, dict[str, list[float]]] = {"stock": {}, "lvmove": {}}
    for rec in records:
        if rec.get("kind") != "move":
            continue
        stats = by_mode[rec["mode"]]
        segs = rec["monitor"].get("segments", [])
        lat = [s["moved_on"] - s["synced"] for s in segs if s.get("synced") is not None and s.get("moved_on")]
        stats.setdefault("checkpoint", []).extend(lat[:-1])
        for sg in segs:
            if sg.get("synced") is not None and sg.get("poller_awake") is not None and sg.get("moved_on"):
                stats.setdefault("notice", []).append(max(0.0, sg["poller_awake"] - sg["synced"]))
                stats.setdefault("lvm_work", []).append(sg["moved_on"] - max(sg["poller_awake"], sg["synced"]))
        if lat:
            stats.setdefault("finish", []).append(lat[-1])
        duration = rec["monitor"]["duration"]
        stats.setdefault("duration", []).append(duration)
        copy_time = sum((s["synced"] - (segs[i - 1]["moved_on"] if i else 0.0))
                        for i, s in enumerate(segs) if s.get("synced") is not None)
        stats.setdefault("copy", []).append(copy_time)
        # lvmpolld exits when idle, so its service counter can restart between moves: for stock, take the
        # lvmpolld cgroup's usage from the device appearing to it going (the monitor's samples); for lvmove,
        # the unit's own total (systemd's "Consumed ... CPU time", verification included).
        seen_cpu = (rec["monitor"].get("cpu_usec_seen") or {}).get("stock") or 0
        gone_cpu = (rec["monitor"].get("cpu_usec_gone") or {}).get("stock")
        stock_cpu = (gone_cpu - seen_cpu) / 1e6 if gone_cpu is not None else rec["lvmpolld_cpu"]
        cpu = rec["unit_cpu"] if rec["mode"] == "lvmove" else stock_cpu
        stats.setdefault("cpu", []).append(cpu)
        stats.setdefault("cpu_per_min", []).append(cpu / (copy_time / 60.0) if copy_time else 0.0)
        synced = [sg for sg in segs if sg.get("synced") is not None and (sg.get("cpu_usec") or {}).get(rec["mode"])]
        if len(synced) >= 2:
            first, last = synced[0], synced[-1]
            span = last["synced"] - first["synced"]
            used = (last["cpu_usec"][rec["mode"]] - first["cpu_usec"][rec["mode"]]) / 1e6
            # The same CPU per minute the kernel spent copying in that span (the segments after the first):
            # stock's span also holds its slower checkpoints, so per wall minute flatters the slower poller.
            i0, i1 = segs.index(first), segs.index(last)
            copying = sum(segs[i]["synced"] - segs[i - 1]["moved_on"] for i in range(i0 + 1, i1 + 1))
            if copying > 0:
                stats.setdefault("cpu_steady_copy", []).append(used / (copying / 60.0))
                stats.setdefault("cpu_per_seg", []).append(used / (i1 - i0))
            if span > 0:
                stats.setdefault("cpu_steady", []).append(used / (span / 60.0))
                for kind, share in process_split(first, last, rec["mode"]).items():
                    stats.setdefault(f"steady_{kind}", []).append(share / (span / 60.0))
        if rec.get("cpu_self") is not None:
            stats.setdefault("cpu_self", []).append(rec["cpu_self"])
            stats.setdefault("cpu_commands", []).append(rec["cpu_commands"] or 0.0)
            stats.setdefault("cpu_poller", []).append(cpu - rec["cpu_self"] - (rec["cpu_commands"] or 0.0))
        if rec.get("lvm_commands"):
            stats.setdefault("cmds_per_seg", []).append(rec["lvm_commands"] / max(1, len(segs)))
        stats.setdefault("segments", []).append(len(segs))
    rows = []
    labels = [
        ("checkpoint", "segment in sync -> checkpoint committed (median s)", "s"),
        ("finish", "last segment in sync -> pvmove0 gone (median s)", "s"),
        ("notice", "  of which: in sync -> LVM's poller out of its sleep (median s, all segments)", "s"),
        ("lvm_work", "  and: poller out of its sleep -> table moved on, LVM's own work (median s)", "s"),
        ("duration", "whole move, device seen -> gone (median s)", "s"),
        ("copy", "kernel copy time, sum of segments (median s)", "s"),
        ("cpu", "poller CPU seconds per move (median; lvmove: its whole unit)", "s"),
        ("cpu_self", "  of which: lvmove's Python, the whole run (completion entry; median s)", "s"),
        ("cpu_commands", "  and: the commands it waited for (lvs, pvmove -b setup; median s)", "s"),
        ("cpu_poller", "  and: the rest, LVM's forked poller (median s)", "s"),
        ("cpu_per_min", "poller CPU seconds per minute of kernel copying, whole move (median)", "s"),
        ("cpu_steady_copy", "poller CPU s per minute of kernel copying, first to last segment in sync (median)",
         "s"),
        ("cpu_per_seg", "  the same per segment (one checkpoint each; median s)", "s"),
        ("cpu_steady", "  the same per wall minute (median)", "s"),
        ("steady_python", "  of which: lvmove's Python (live processes)", "s"),
        ("steady_lvm", "  and: LVM's poller processes (live; lvpoll for stock, the warm poller for lvmove)", "s"),
        ("cmds_per_seg", "LVM commands per segment (lvmove: all it ran)", ""),
    ]
    for key, label, unit in labels:
        a = median(by_mode["lvmove"].get(key, []))
        b = median(by_mode["stock"].get(key, []))
        rows.append((label, fmt(a, unit), fmt(b, unit), ratio(a, b)))
    return rows


def process_split(first: dict[str, Any], last: dict[str, Any], mode: str) -> dict[str, float]:
    """CPU seconds between two in-sync moments by kind of process ("python", "lvm"), from the monitor's
    per-process ticks (processes alive at both moments; forked helpers that ended are not in it)."""
    a = (first.get("proc_ticks") or {}).get(mode) or {}
    b = (last.get("proc_ticks") or {}).get(mode) or {}
    hz = os.sysconf("SC_CLK_TCK")
    split: dict[str, float] = {}
    for key, ticks in b.items():
        if key in a:
            kind = "python" if key.startswith("python") or key.startswith("lvmove") else "lvm"
            split[kind] = split.get(kind, 0.0) + (ticks - a[key]) / hz
    return split


# ---- host part: the generator ---------------------------------------------------------------------------

def generator_rows(repeats: int = 15) -> list[tuple[str, str, str, str]]:
    rows = []
    base: float | None = None
    for count in (0, 10, 100, 1000):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for i in range(count):
                d = root / "sys" / "block" / f"dm-{i}" / "dm"
                d.mkdir(parents=True)
                name = f"vg{i % 50}-pvmove{i}" if i % 10 == 0 else f"vg{i % 50}-lv{i}"
                (d / "name").write_text(name + "\n")
                (d / "uuid").write_text(f"LVM-{i:064d}\n")
            (root / "sys" / "block").mkdir(parents=True, exist_ok=True)
            (root / "proc").mkdir()
            (root / "proc" / "cmdline").write_text("root=/dev/vda\n")
            env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "LVMOVE_SYSFS": str(root / "sys"),
                   "LVMOVE_PROC": str(root / "proc"), "LVMOVE_CONFIG": str(root / "none.yaml"),
                   "LVMOVE_KMSG": str(root / "kmsg"), "LVMOVE_INITRD_RELEASE": str(root / "none")}
            times = []
            for k in range(repeats):
                out = root / f"out{k}"
                start = time.perf_counter()
                subprocess.run(["/usr/bin/python3", str(REPO / "generators" / "lvmove-generator"), str(out)],
                               env=env, check=True, timeout=30)
                times.append(time.perf_counter() - start)
            med = statistics.median(times)
            if count == 0:
                base = med
            rows.append((f"generator, {count} dm devices (median of {repeats}, host)", fmt(med * 1000, " ms", 1),
                         "50 ms target", ratio(med, 0.050)))
    assert base is not None
    return rows


def status_host_rows(moves: int = 100, repeats: int = 5) -> list[tuple[str, str, str, str]]:
    """`lvmove status --json` with `moves` moves in flight against the fake LVM (tests/fake): the time lvmove
    itself adds (wall time minus the longer of its two concurrent commands and minus the fake dmsetup
    processes that stand in for DM ioctls, from its -v log), i.e. what it costs on top of the one lvs report
    on a machine without emulation."""
    sys.path.insert(0, str(REPO / "tests" / "fake"))
    from fakesystem import FakeSystem

    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeSystem(Path(tmp))
        for i in range(moves):
            vg = f"m{i}"
            fake.vg(vg, {f"/dev/m{i}a": f"7:{2 * i}", f"/dev/m{i}b": f"7:{2 * i + 1}"})
            fake.lv(vg, "lv", [(f"/dev/m{i}a", 0, 1)])
            fake.move(vg, f"/dev/m{i}a", [f"/dev/m{i}b"], rate_pe=0.0001)
        env = {**fake.env, "LVMOVE_NO_IOCTL": "1"}
        own, total, calls = [], [], 0
        for _ in range(repeats):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "lvmove_hooks", "-v", "status", "--json"], env=env,
                                  capture_output=True, text=True, timeout=600, check=True)
            wall = time.perf_counter() - start
            listed = len(json.loads(done.stdout)["moves"])
            # Its report and its systemctl show run at once: the longer of the two is what they add. The fake
            # kernel is read through (fake) dmsetup processes, one after another, where a real one takes ioctls.
            timed = [(line.split("s: ", 1)[1].split()[0], float(line.split(" ok in ")[1].split("s:")[0]))
                     for line in done.stderr.splitlines() if " ok in " in line]
            spent = (max((t for cmd, t in timed if cmd in ("lvm", "systemctl")), default=0.0)
                     + sum(t for cmd, t in timed if cmd not in ("lvm", "systemctl")))
            calls = sum(1 for line in done.stderr.splitlines() if line.startswith("lvmove: run: lvm "))
            own.append(wall - spent)
            total.append(wall)
    own_median = statistics.median(own)
    return [(f"lvmove status --json, {listed} moves, own time: wall minus its longer command (host, fake LVM)",
             fmt(own_median * 1000, " ms", 0), "300 ms target", ratio(own_median, 0.300)),
            ("  LVM report calls in that status", str(calls), "1", "-")]


def print_table(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    header = ("figure", "lvmove", "stock", "lvmove/stock")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    print(f"\n{title}")
    for row in [header, *rows]:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.perf")
    parser.add_argument("--suite", default="bookworm", choices=("bookworm", "trixie", "sid"),
                        help="the Debian suite of the guest (default bookworm)")
    parser.add_argument("--rounds", type=int, default=2, help="moves per mode (default 2)")
    parser.add_argument("--many", type=int, default=20, help="moves in flight for the status figure")
    parser.add_argument("--segments", type=int, default=4, help="segments per move (8 MiB each)")
    parser.add_argument("--bps", type=int, default=512 * 1024, help="copy throttle, bytes/s (default 512 KiB/s)")
    parser.add_argument("--many-host", type=int, default=100, help="moves for the host-side status figure")
    parser.add_argument("--skip-guest", action="store_true", help="only the host figures")
    parser.add_argument("--keep", action="store_true", help="keep the guest's disks")
    parser.add_argument("--results", type=Path, help="reuse a bench.jsonl instead of booting a guest")
    parser.add_argument("--save", type=Path, help="write the guest's records (JSON lines) there, for --results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    started = time.monotonic()
    records: list[dict[str, Any]] = []
    if args.results:
        records = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    elif not args.skip_guest:
        records = run_guest(args.suite, args.rounds, args.many, args.keep, args.segments, args.bps)
        if args.save:
            args.save.write_text("".join(json.dumps(r) + "\n" for r in records))
    if records:
        print_table(f"Moves ({guest_title(records)}, same disks and throttle, alternating)",
                    move_rows(records))
        resume = [r["unit_started"] - r["appeared"] for r in records
                  if r.get("kind") == "resume" and r.get("unit_started") is not None]
        status = [r for r in records if r.get("kind") == "status"]
        other = [("pvmove device appears -> unit started (median s)", fmt(median(resume), " s"), "no unit",
                  ratio(median(resume), 1.0) + " of 1 s target")]
        if status:
            lv = median([r["lvmove_s"] for r in status])
            st = median([r["lvs_s"] for r in status])
            other.append((f"lvmove status --json, {status[0]['listed']} of {status[0]['moves']} moves (median s)",
                          fmt(lv, " s"), fmt(st, " s") + " (lvs)", ratio(lv, st)))
            other.append(("LVM report calls per status", str(status[0]["lvm_calls"]), "1 (lvs)", "-"))
            own = [r["own_s"] for r in status if r.get("own_s") is not None]
            if own:
                other.append(("  lvmove's own time: wall minus its longer command (-v log; median s)",
                              fmt(median(own), " s"), "300 ms target", ratio(median(own), 0.300)))
        for setup in (r for r in records if r.get("kind") == "many_setup"):
            other.append((f"  set-up: {setup['made']} of {setup['asked']} moves ({setup['workers']} at once)",
                          fmt(setup["seconds"], " s", 0), "", ""))
        parts = [r for r in records if r.get("kind") == "status_parts"]
        for key, label in (("python", "  of which: python3 -c pass"),
                           ("import", "  python3 -c 'import lvmove_hooks.cli'"),
                           ("report", "  lvmove's one lvs report alone"),
                           ("systemctl", "  its systemctl show alone")):
            if parts:
                other.append((label + " (median s)", fmt(median([r[key] for r in parts]), " s"), "", ""))
        print_table("Start and status", other)
    print_table("Generator", generator_rows())
    print_table("Status on the host", status_host_rows(args.many_host))
    print(f"\nbench time: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
