"""The per-VG check (`lvmove-vg@VG.service`) on one VG with many LVs, printed beside what LVM itself costs.

    sudo python3 -m bench.vgcheck [--suite trixie] [--lvs 100] [--repeats 5] [--results FILE] [--save FILE]

In one Debian guest (qemu TCG, the suite's LVM2, lvmove's .deb): a VG with --lvs inactive LVs is activated
(`vgchange -ay`, as at boot: every LV's dm device appears at once and lvmove's udev rule asks for the check on
each); the figures are how often the check unit started (once per VG, whatever the number of LVs), how long it
ran and its CPU, beside the activation itself; then `lvmove check-vg VG` by hand, alternating with one
`lvs --readonly VG`, and how many LVM commands the check ran (one report).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rows(records: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(figure, lvmove, LVM, lvmove/LVM) per line."""
    act = [r for r in records if r.get("kind") == "activation"]
    chk = [r for r in records if r.get("kind") == "check"]
    out: list[tuple[str, str, str, str]] = []
    if act:
        lvs = act[0]["lvs"]
        out.append((f"check unit starts per activation of {lvs} LVs (each round)",
                    ",".join(str(r["starts"]) for r in act), f"{median([r['dm_devices'] for r in act]):.0f} dm devices",
                    "-"))
        run = median([r["unit_run_s"] for r in act])
        vgc = median([r["vgchange_s"] for r in act])
        out.append(("check unit run time / vgchange -ay of the VG (median s)", f"{run:.2f} s", f"{vgc:.2f} s",
                    f"{run / vgc:.3f}"))
        after = [r["after_activation_s"] for r in act if "after_activation_s" in r]
        if after:
            out.append(("  check done after the activation's end (median s)", f"{median(after):.2f} s", "", ""))
        cpu = [r["unit_cpu_ns"] / 1e9 for r in act if r.get("unit_cpu_ns") is not None]
        if cpu:
            out.append(("  the check unit's CPU (median s)", f"{median(cpu):.2f} s", "", ""))
    if chk:
        c, r = median([x["check_s"] for x in chk]), median([x["lvs_s"] for x in chk])
        out.append((f"lvmove check-vg / lvs --readonly, {chk[0]['lvs']} LVs (median s)", f"{c:.2f} s",
                    f"{r:.2f} s", f"{c / r:.3f}"))
        out.append(("  of which: python3 -c pass (median s)", f"{median([x['python_s'] for x in chk]):.2f} s", "", ""))
        out.append(("LVM commands per check", ",".join(sorted({str(x["lvm_calls"]) for x in chk})), "1 (lvs)", "-"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.vgcheck")
    parser.add_argument("--suite", default="bookworm", choices=("bookworm", "trixie", "sid"))
    parser.add_argument("--lvs", type=int, default=100, help="LVs in the VG (default 100)")
    parser.add_argument("--repeats", type=int, default=5, help="activations and checks measured (default 5)")
    parser.add_argument("--keep", action="store_true", help="keep the guest's disks")
    parser.add_argument("--results", type=Path, help="reprint a saved run instead of booting a guest")
    parser.add_argument("--save", type=Path, help="write the guest's records (JSON lines) there")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if args.results:
        records = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    else:
        from bench.guestrun import run_script

        records = run_script(args.suite, HERE / "guest_vgcheck.sh", tag=f"vgcheck-{args.suite}", pv_count=2,
                             keep=args.keep, env={"LVS": str(args.lvs), "REPEATS": str(args.repeats)})
        if args.save:
            args.save.write_text("".join(json.dumps(r) + "\n" for r in records))
    guest: dict[str, Any] = next((r for r in records if r.get("kind") == "guest"), {})
    print(f"Per-VG check ({guest.get('suite', '?')} guest, qemu TCG, {guest.get('lvm', '?')})")
    print(f"{'figure':64} {'lvmove':>10} {'LVM':>16} {'ratio':>8}")
    for figure, ours, theirs, r in rows(records):
        print(f"{figure:64} {ours:>10} {theirs:>16} {r:>8}")
    failed = guest.get("checks_failed") or []
    if failed:
        print("checks failed in the guest: " + "; ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
