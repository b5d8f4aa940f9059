"""A small simulation of LVM2 (2.03.16 by default), device-mapper and systemd for lvmove's end-to-end tests.

`LVMOVE_FAKE_LVM_VERSION` (2.03.16, 2.03.31, 2.03.39 or main; see VERSIONS) selects what differs between LVM
generations, as LVM's source and real runs show it:
- 2.03.26 on: JSON reports carry LVM's messages in a top-level "log" list on stdout (report_command_log=1),
  not on stderr: `lvs VG` of a missing VG prints nothing on stderr and exits 5;
- 2.03.31 on: the orphan `pvmoveN` error LV an interrupted finish leaves is visible, and active (2.03.16:
  hidden, no device);
- 2.03.36 on: the pvmove LV's dm UUID (and those of its `_mimage_N` images) ends in "-real";
- 2.03.39 on: an --atomic move's finish interrupted between its two commits also leaves the mirror's images
  `pvmoveN_mimage_0/1` as visible, active `error` LVs (dm UUID without the suffix), seen in a
  bookworm+2.03.39 guest (2.03.31 leaves none; the release in between that changed it is not pinned);
- main (2.03.40-git): become_daemon() NUL-terminates the rewritten argv[0]: a forked poller started as `lvm`
  shows as "(l" (2.03.16 to 2.03.39: "(lv").
`lvs --readonly` reports lv_active "unknown" in every one of them (--readonly turns activation off; the field
is _binary_undef_disp() then, lib/report/report.c).

The fake `lvm`, `dmsetup` and `systemctl` in `bin/` share one JSON state file named by `LVMOVE_FAKE_STATE`;
`tests/conftest.py` builds that state through the same functions. The state holds VGs (PVs with maj:min,
LVs with segments) and, for every in-flight move, a hidden `pvmoveN` LV:

    {"name": "pvmove0", "pvmove": true, "atomic": false, "source": "/dev/sda", "active": true,
     "pieces": [{"lv": "data", "seg": 0, "size_pe": 4, "src": ["/dev/sda", 0], "dst": ["/dev/sdb", 0]}],
     "checkpointed": 0,       # pieces LVM has committed as moved (by-segment mode)
     "copy_since": 1234.5,    # wall time the kernel started copying the current piece (None: inactive)
     "rate_pe": 20.0,         # extents the kernel copies per simulated second
     "health": "AA", "dm": "live"}

Moved LVs are LOCKED and their moved segments map onto `pvmoveN` as in real LVM. Kernel progress is the time
since `copy_since` times `rate_pe` (or `fixed_pe`); without a poller the kernel stops at the end of the current
piece. Simulated seconds are multiplied by `LVMOVE_FAKE_TIMESCALE` (real seconds per simulated second).

Output follows the captured LVM 2.03.16 runs in tests/fixtures/captured/bookworm (tests/test_e2e_fake.py checks
it byte for byte): `lvs --readonly` does not know activity or copy percent; the kernel side is `dmsetup` and a
fake sysfs (`LVMOVE_SYSFS`: block/dm-N/dm/uuid), rewritten whenever the set of dm devices changes.
Long-running fake commands (lvpoll, foreground pvmove) show up in the fake /proc (`LVMOVE_PROC`) with an
LVM-looking cmdline and their real `syscall`/`stat`, so "is it asleep?" reads the truth.

Every command appends {"argv", "pid", "ppid", "t"} to `commands.log` next to the state file, and noteworthy
things (checkpoints, finishes, SIGINTs) to the state's `events` list.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import random
import select
import shutil
import signal
import string
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

SECTOR = 512
REGION_SECTORS = 4096  # LVM's default mirror region size (2 MiB), as in the 2.03.16 samples
PE_START_SECTORS = 2048  # data offset of a PV (1 MiB)
DM_MAJOR = 253

State = dict[str, Any]
LV_FIELDS = ("vg_name", "vg_uuid", "vg_extent_size", "lv_name", "lv_uuid", "lv_attr", "lv_active", "lv_size",
             "move_pv", "copy_percent", "lv_layout", "lv_role", "segtype", "seg_size_pe", "seg_pe_ranges", "devices")


# ---- state file ---------------------------------------------------------------------------------------------

def state_path() -> Path:
    return Path(os.environ["LVMOVE_FAKE_STATE"])


VERSIONS = ("2.03.16", "2.03.31", "2.03.39", "main")
MAIN = (2, 3, 40)


def lvm_version() -> tuple[int, ...]:
    """The LVM generation the fake plays (LVMOVE_FAKE_LVM_VERSION; "main" is 2.03.40-git)."""
    text = os.environ.get("LVMOVE_FAKE_LVM_VERSION") or VERSIONS[0]
    return MAIN if text == "main" else tuple(int(part) for part in text.split("."))


def since(version: str) -> bool:
    return lvm_version() >= tuple(int(part) for part in version.split("."))


def forked_argv0() -> str:
    """argv[0] ("lvm") of LVM's forked background poller after become_daemon() rewrote it with "(lvm2)"."""
    return "(l" if since("2.03.40") else "(lv"


def timescale() -> float:
    return float(os.environ.get("LVMOVE_FAKE_TIMESCALE", "1"))


CLOCK_ENV = "LVMOVE_FAKE_CLOCK"


def now() -> float:
    """The kernel simulation's clock: wall time, or the fake clock of a test (a file named by
    LVMOVE_FAKE_CLOCK holding {"frozen": T} while the test advances it by hand, so what the kernel has
    copied does not depend on how fast processes run under load, or {"offset": S} once it runs again)."""
    path = os.environ.get(CLOCK_ENV)
    if path:
        with contextlib.suppress(OSError, ValueError):
            clock = json.loads(Path(path).read_text(encoding="utf-8"))
            return float(clock["frozen"]) if "frozen" in clock else time.time() + float(clock["offset"])
    return time.time()


def empty_state() -> State:
    return {"vgs": {}, "units": {}, "started_units": [], "events": [], "seq": 0, "use_lvmpolld": 1,
            "lvpoll_work": 0.0, "systemctl_fail": False, "readonly_knows_activation": False}


def load(path: Path | None = None) -> State:
    path = path or state_path()
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return empty_state()


def save(state: State, path: Path | None = None) -> None:
    path = path or state_path()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
    tmp.replace(path)
    if state.get("sysfs"):
        sync_sysfs(state, Path(state["sysfs"]))


def sync_sysfs(state: State, root: Path) -> None:
    """Mirror the dm devices in a fake sysfs (`LVMOVE_SYSFS`): block/dm-N/{dev,dm/name,dm/uuid,dm/suspended}.

    `block` is a symlink swapped atomically to a fresh generation, so a reader never sees half of a change;
    the previous generations stay a while for readers that already resolved the link.
    """
    devices = dm_devices(state)
    wanted = {f"dm-{d['minor']}": (name, d["uuid"], d["devnum"], "1" if "s" in d["attr"] else "0")
              for name, d in devices.items()}
    root.mkdir(parents=True, exist_ok=True)
    marker = root / ".devices.json"
    text = json.dumps(sorted(wanted.items()))
    if marker.exists() and marker.read_text() == text:
        return
    generation = root / f"block.{os.getpid()}.{time.time_ns()}"
    for entry, (name, uuid, devnum, suspended) in wanted.items():
        (generation / entry / "dm").mkdir(parents=True)
        (generation / entry / "dev").write_text(devnum + "\n")
        (generation / entry / "dm" / "name").write_text(name + "\n")
        (generation / entry / "dm" / "uuid").write_text(uuid + "\n")
        (generation / entry / "dm" / "suspended").write_text(suspended + "\n")
    generation.mkdir(exist_ok=True)
    link = root / f".block.{os.getpid()}.tmp"
    link.symlink_to(generation.name)
    link.replace(root / "block")
    marker.write_text(text)
    for old in sorted(root.glob("block.*"), key=lambda p: p.stat().st_mtime)[:-4]:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def locked(path: Path | None = None, write: bool = True) -> Iterator[State]:
    """The state under the lock; saved on exit when `write`."""
    path = path or state_path()
    with open(path.with_name(path.name + ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = load(path)
        yield state
        if write:
            save(state, path)


def log_command(argv: list[str]) -> None:
    entry = {"argv": argv, "pid": os.getpid(), "ppid": os.getppid(), "t": time.time()}
    with open(state_path().with_name("commands.log"), "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


def event(state: State, kind: str, **data: Any) -> None:
    state["events"].append({"event": kind, "pid": os.getpid(), "t": time.time(), **data})


def new_uuid(state: State) -> str:
    state["seq"] += 1
    rnd = random.Random(state["seq"])
    chars = "".join(rnd.choice(string.ascii_letters + string.digits) for _ in range(32))
    parts, pos = [], 0
    for width in (6, 4, 4, 4, 4, 4, 6):
        parts.append(chars[pos:pos + width])
        pos += width
    return "-".join(parts)


# ---- building state (used by the fixture and by `pvmove`) ----------------------------------------------------

def add_vg(state: State, vg: str, pvs: dict[str, str], extent_mib: int = 4) -> State:
    state["vgs"][vg] = {"uuid": new_uuid(state), "extent_size": extent_mib * 1024 * 1024,
                        "pvs": dict(pvs), "lvs": []}
    return state["vgs"][vg]


def add_lv(state: State, vg: str, name: str, segments: list[tuple[str, int, int]], *, active: bool = True) -> State:
    """A linear LV; `segments` are (PV, first extent, extents)."""
    lv = {"name": name, "uuid": new_uuid(state), "active": active, "locked": False,
          "segments": [{"size_pe": n, "devices": [[pv, pe]]} for pv, pe, n in segments]}
    state["vgs"][vg]["lvs"].append(lv)
    return lv


def find_lv(state: State, vg: str, name: str) -> State | None:
    return next((lv for lv in state["vgs"].get(vg, {}).get("lvs", []) if lv["name"] == name), None)


def pvmoves(state: State) -> Iterator[tuple[str, State]]:
    for vg, data in state["vgs"].items():
        for lv in data["lvs"]:
            if lv.get("pvmove"):
                yield vg, lv


def _free_pe(vgdata: State, pv: str) -> int:
    end = 0
    for lv in vgdata["lvs"]:
        for seg in lv["segments"]:
            for dev, pe in seg["devices"]:
                if dev == pv:
                    end = max(end, pe + seg["size_pe"])
        for piece in lv.get("pieces", []):
            if piece["dst"][0] == pv:
                end = max(end, piece["dst"][1] + piece["size_pe"])
    return end


def _split_on_source(data: State, source: str, lv: str | None, cuts: Callable[[int, int], list[int]]) -> None:
    """Split each single-PV segment on `source` (of LV `lv` only, when given) at the extents `cuts(first, n)`
    returns (lv_split_segment, before the pvmove LV is built)."""
    for moved in data["lvs"]:
        if moved.get("pvmove") or (lv and moved["name"] != lv):
            continue
        segments: list[State] = []
        for seg in moved["segments"]:
            (dev, pe), n = seg["devices"][0], seg["size_pe"]
            if len(seg["devices"]) != 1 or dev != source:
                segments.append(seg)
                continue
            points = [pe] + [c for c in cuts(pe, n) if pe < c < pe + n] + [pe + n]
            segments += [{"size_pe": end - start, "devices": [[dev, start]]}
                         for start, end in itertools.pairwise(points)]
        moved["segments"] = segments


def split_segments(data: State, source: str, lv: str | None, max_pe: int) -> None:
    """LVM >= 2.03.36 with allocation/pvmove_max_segment_size_mb: each LV segment on `source` longer than
    `max_pe` extents is split into pieces of at most that."""
    _split_on_source(data, source, lv, lambda pe, n: list(range(pe + max_pe, pe + n, max_pe)))


def pv_uuid(state: State, vg: str, pv: str) -> str:
    """A PV's UUID, fixed by its VG and device name (the fake keeps no PV UUIDs of its own)."""
    rnd = random.Random(f"{state['vgs'][vg]['uuid']}{pv}")
    chars = "".join(rnd.choice(string.ascii_letters + string.digits) for _ in range(32))
    return "-".join(chars[a:b] for a, b in ((0, 6), (6, 10), (10, 14), (14, 18), (18, 22), (22, 26), (26, 32)))


def parse_pe_ranges(text: str) -> list[tuple[int, int]]:
    """pvmove's `a-b:c+n:d` after SRC: as (first, last) extents."""
    out = []
    for part in text.split(":"):
        if "-" in part:
            a, b = part.split("-", 1)
            out.append((int(a), int(b)))
        elif "+" in part:
            a, n = part.split("+", 1)
            out.append((int(a), int(a) + int(n) - 1))
        else:
            out.append((int(part), int(part)))
    return out


def split_at_ranges(data: State, source: str, lv: str | None, ranges: list[tuple[int, int]]) -> None:
    """`pvmove SRC:a-b`: LV segments on `source` are split at the range boundaries, so that only the extents
    inside the ranges move (as pvmove does for a PE range)."""
    cuts = sorted({a for a, _ in ranges} | {b + 1 for _, b in ranges})
    _split_on_source(data, source, lv, lambda _pe, _n: cuts)


def _in_ranges(seg: State, ranges: list[tuple[int, int]] | None) -> bool:
    start = seg["devices"][0][1]
    return ranges is None or any(a <= start and start + seg["size_pe"] - 1 <= b for a, b in ranges)


def create_move(state: State, vg: str, source: str, dests: list[str] | None = None, *, lv: str | None = None,
                atomic: bool = False, active: bool = True, checkpointed: int = 0, rate_pe: float = 20.0,
                copied_pe: float = 0.0, max_segment_mib: int = 0,
                ranges: list[tuple[int, int]] | None = None) -> State:
    """What `pvmove -b SRC[:a-b] [DST]` leaves behind: pvmoveN, its pieces, LOCKED LVs mapped onto it."""
    data = state["vgs"][vg]
    if ranges:
        split_at_ranges(data, source, lv, ranges)
    if max_segment_mib and not atomic:
        split_segments(data, source, lv, max(1, max_segment_mib * 1024 * 1024 // data["extent_size"]))
    dests = dests or [p for p in data["pvs"] if p != source][:1]
    if not dests:
        raise ValueError("no destination PV")
    used = {m["name"] for m in data["lvs"]}
    name = next(f"pvmove{n}" for n in range(100) if f"pvmove{n}" not in used)
    pieces: list[State] = []
    next_dst = {d: _free_pe(data, d) for d in dests}
    offset = 0
    for moved in data["lvs"]:
        if moved.get("pvmove") or (lv and moved["name"] != lv):
            continue
        for index, seg in enumerate(moved["segments"]):
            if len(seg["devices"]) != 1 or seg["devices"][0][0] != source or not _in_ranges(seg, ranges):
                continue
            dst = dests[len(pieces) % len(dests)]
            pieces.append({"lv": moved["name"], "seg": index, "size_pe": seg["size_pe"],
                           "src": list(seg["devices"][0]), "dst": [dst, next_dst[dst]]})
            next_dst[dst] += seg["size_pe"]
            seg["devices"] = [[name, offset]]
            offset += seg["size_pe"]
            moved["locked"] = True
            moved["active"] = active
    if not pieces:
        raise ValueError(f"No data to move for {vg}.")
    t0 = now()
    pvmove = {"name": name, "uuid": new_uuid(state), "pvmove": True, "atomic": atomic, "source": source,
              "active": active, "locked": True, "segments": [], "pieces": pieces,
              "checkpointed": checkpointed, "rate_pe": rate_pe, "health": "AA", "dm": "live",
              "copy_since": t0 - copied_pe / rate_pe * timescale() if active and rate_pe else
              (t0 if active else None)}
    if atomic:
        pvmove["image_uuids"] = {"0": new_uuid(state), "1": new_uuid(state)}
    data["lvs"].append(pvmove)
    return pvmove


# ---- kernel simulation ----------------------------------------------------------------------------------------

def current_index(move: State) -> int:
    return 0 if move["atomic"] else move["checkpointed"]


def copied_pe(move: State, at: float | None = None) -> float:
    """Extents of the current piece (atomic: of the whole move) the kernel has copied."""
    if not move["active"] or move["copy_since"] is None:
        return 0.0
    if move.get("fixed_pe") is not None:
        return float(move["fixed_pe"])
    if "D" in move["health"] or "F" in move["health"] or "R" in move["health"] or "S" in move["health"]:
        return move.get("stalled_at", 0.0)
    total = sum(p["size_pe"] for p in move["pieces"]) if move["atomic"] else \
        move["pieces"][current_index(move)]["size_pe"]
    elapsed = ((at or now()) - move["copy_since"]) / timescale()
    return min(float(total), max(0.0, elapsed * move["rate_pe"]))


def current_synced(move: State) -> bool:
    total = sum(p["size_pe"] for p in move["pieces"]) if move["atomic"] else \
        move["pieces"][current_index(move)]["size_pe"]
    return copied_pe(move) >= total


def copy_percent(move: State) -> float:
    total = sum(p["size_pe"] for p in move["pieces"])
    done = sum(p["size_pe"] for p in move["pieces"][: move["checkpointed"]]) if not move["atomic"] else 0
    return 100.0 * (done + copied_pe(move)) / total


def set_health(move: State, health: str) -> None:
    if health != "AA" and move.get("health") == "AA":
        move["stalled_at"] = copied_pe(move)
    move["health"] = health


def activate_move(move: State) -> None:
    """(Re)activation: the mirror log is in memory, so the current piece copies again from 0."""
    if not move["active"]:
        move["active"] = True
        move["copy_since"] = now()
        move["dm"] = "live"


def deactivate_vg(state: State, vg: str) -> None:
    for lv in state["vgs"][vg]["lvs"]:
        lv["active"] = False
        if lv.get("pvmove"):
            lv["copy_since"] = None


def checkpoint(state: State, vg: str, move: State) -> None:
    move["checkpointed"] += 1
    move["copy_since"] = now()
    event(state, "checkpoint", lv=f"{vg}/{move['name']}", checkpointed=move["checkpointed"])


def finish(state: State, vg: str, move: State, *, abort: bool = False, orphan: bool = False,
           orphan_active: bool | None = None) -> None:
    """LVM's finish (or abort): moved segments take their final areas, LOCKED goes, pvmoveN goes. `orphan`:
    a crash between the finish's two commits, which leaves pvmoveN as an `error` LV (see add_orphan)."""
    data = state["vgs"][vg]
    for index, piece in enumerate(move["pieces"]):
        lv = find_lv(state, vg, piece["lv"])
        if lv is None:
            continue
        stays_moved = not abort or (not move["atomic"] and index < move["checkpointed"])
        lv["segments"][piece["seg"]]["devices"] = [list(piece["dst"] if stays_moved else piece["src"])]
        lv["locked"] = False
    data["lvs"] = [lv for lv in data["lvs"] if lv is not move]
    if orphan:
        add_orphan(state, vg, move["name"], move["uuid"], active=orphan_active)
        if move["atomic"] and since("2.03.39"):
            for n in (0, 1):
                image = add_orphan(state, vg, f"{move['name']}_mimage_{n}", move["image_uuids"][str(n)], active=True)
                image["image_of"] = move["name"]
    event(state, "aborted" if abort else "finished", lv=f"{vg}/{move['name']}")


def add_orphan(state: State, vg: str, name: str = "pvmove0", uuid: str | None = None, *,
               active: bool | None = None) -> State:
    """The `error` LV an interrupted finish leaves, not a pvmove any more: hidden `[pvmoveN]` with 1 extent
    and no dm device on 2.03.16; visible from 2.03.31 on (lv_rows), and so activated like any visible LV (a
    dm device with an `error` table)."""
    active = since("2.03.31") if active is None else active
    lv = {"name": name, "uuid": uuid or new_uuid(state), "orphan": True, "active": active,
          "locked": False, "segments": []}
    state["vgs"][vg]["lvs"].append(lv)
    return lv


# ---- views: lvs rows and dm devices ----------------------------------------------------------------------------

def _attr(lv: State, kind: str) -> str:
    active = lv["active"]
    if kind == "pvmove":
        return "p-C-aom---" if active else "p-C---m---"
    if kind == "orphan":  # an error segment (virtual), allocated contiguous like the pvmove LV it was
        return "vwc-a-v---" if active else "vwc---v---"
    if kind == "orphan-image":  # an atomic move's image left by 2.03.39 (normal allocation)
        return "vwi-a-v---" if active else "vwi---v---"
    if kind == "image":  # LVM marks pvmove images out of sync ("I") for as long as the move runs
        return "Iwi-aom---" if active else "Iwi---m---"
    third = "I" if lv.get("locked") else "i"
    return f"-w{third}-{'a' if active else '-'}-----"


def missing_pvs(state: State, vg: str) -> dict[str, str]:
    """PVs of VG whose disk is gone (path -> PV UUID): LVM calls them [unknown] and warns."""
    return dict(state["vgs"][vg].get("missing", {}))


def missing_warnings(state: State, vg: str) -> list[str]:
    """What LVM 2.03.16 to 2.03.39 warn for each missing PV of VG (lib/metadata/metadata.c, lib/format_text)."""
    lines = []
    for path, uuid in missing_pvs(state, vg).items():
        lines += [f"WARNING: Couldn't find device with uuid {uuid}.",
                  f"WARNING: VG {vg} is missing PV {uuid} (last written to {path})."]
    return lines


def touches_missing(state: State, vg: str, lv: State) -> bool:
    gone = missing_pvs(state, vg)
    if lv.get("pvmove"):
        return any(p["src"][0] in gone or p["dst"][0] in gone for p in lv["pieces"])
    return any(d[0] in gone for s in lv.get("segments", []) for d in s["devices"])


def _pe_range(dev: str, pe: int, n: int) -> str:
    return f"{dev}:{pe}-{pe + n - 1}"


def lv_rows(state: State, vg: str, *, readonly: bool = False) -> list[State]:
    """One dict per segment, LVM's field names, values as LVM 2.03.16 prints them with `--units b --nosuffix`.

    As captured in tests/fixtures/captured/bookworm: an LV segment on pvmoveN shows `pvmoveN(0)` and the
    whole `pvmoveN:0-<last>` range; with `--readonly` LVM does not ask the kernel, so `lv_active` is `unknown`,
    the state and open columns of `lv_attr` are `XX` and `copy_percent` is empty (unless the state's
    `readonly_knows_activation` asks for the old, unfaithful output).
    """
    data = state["vgs"][vg]
    ext = data["extent_size"]
    rows: list[tuple[str, int, State]] = []
    unknown = readonly and not state.get("readonly_knows_activation")
    pvmove_pe = {lv["name"]: sum(p["size_pe"] for p in lv["pieces"]) for lv in data["lvs"] if lv.get("pvmove")}
    gone = missing_pvs(state, vg)

    def shown(dev: str) -> str:
        return "[unknown]" if dev in gone else dev

    def add(name: str, hidden: bool, lv: State, kind: str, segs: list[tuple[str, int, list[tuple[str, int]]]],
            extra: State) -> None:
        size_pe = sum(n for _, n, _ in segs)
        for index, (segtype, n, devices) in enumerate(segs):
            ranges = [f"{d}:0-{pvmove_pe[d] - 1}" if d in pvmove_pe else _pe_range(shown(d), pe, n)
                      for d, pe in devices]
            row = {
                "vg_name": vg, "vg_uuid": data["uuid"], "vg_extent_size": str(ext),
                "lv_name": f"[{name}]" if hidden else name, "lv_uuid": extra.get("uuid", lv["uuid"]),
                "lv_attr": _attr(lv, kind), "lv_active": "active" if lv["active"] else "",
                "lv_size": str(size_pe * ext), "move_pv": "", "copy_percent": "",
                "lv_layout": "linear", "lv_role": "public", "segtype": segtype, "seg_size_pe": str(n),
                "seg_pe_ranges": " ".join(ranges),
                "devices": ",".join(f"{shown(d)}({0 if d in pvmove_pe else pe})" for d, pe in devices),
            }
            if touches_missing(state, vg, lv) or any(d in gone for d, _ in devices):  # partial ("p")
                row["lv_attr"] = row["lv_attr"][:8] + "p" + row["lv_attr"][9:]
            row.update({k: v for k, v in extra.items() if k != "uuid"})
            if unknown:
                row.update(lv_active="unknown", lv_attr=row["lv_attr"][:4] + "XX" + row["lv_attr"][6:],
                           copy_percent="")
            rows.append((name, index, row))

    for lv in data["lvs"]:
        if lv.get("orphan"):
            visible = since("2.03.31")
            add(lv["name"], not visible, lv, "orphan-image" if lv.get("image_of") else "orphan", [("error", 1, [])],
                {"lv_layout": "error", "lv_role": "public" if visible else "private"})
            continue
        if not lv.get("pvmove"):
            add(lv["name"], False, lv, "lv", [("linear", s["size_pe"], [tuple(d) for d in s["devices"]])
                                               for s in lv["segments"]], {})
            continue
        name = lv["name"]
        pv_extra = {"move_pv": shown(lv["source"]), "lv_layout": "mirror", "lv_role": "private,pvmove",
                    "copy_percent": f"{copy_percent(lv):.2f}" if lv["active"] else ""}
        if lv["atomic"]:
            total = pvmove_pe[name]
            add(name, True, lv, "pvmove",
                [("mirror", total, [(f"{name}_mimage_0", 0), (f"{name}_mimage_1", 0)])], pv_extra)
            for n, side in ((0, "src"), (1, "dst")):
                image = {"uuid": lv["image_uuids"][str(n)]}
                add(f"{name}_mimage_{n}", True, lv, "image",
                    [("linear", p["size_pe"], [tuple(p[side])]) for p in lv["pieces"]],
                    {**image, "lv_role": "private,mirror,image"})
        else:
            add(name, True, lv, "pvmove",
                [("mirror", p["size_pe"], [tuple(p["src"]), tuple(p["dst"])]) for p in lv["pieces"]], pv_extra)
    rows.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in rows]


def layer_suffix() -> str:
    """2.03.36 on, internal LVs (the pvmove LV, hidden mirror images) carry a layer suffix in their dm UUID
    (lib/misc/lvm-string.c build_dm_uuid()); the dm name stays as it was."""
    return "-real" if since("2.03.36") else ""


def dm_name(vg: str, lv: str) -> str:
    return f"{vg.replace('-', '--')}-{lv.replace('-', '--')}"


def dm_devices(state: State) -> dict[str, State]:
    """Active dm devices: name -> {"table": [...], "status": [...], "uuid", "devnum", "attr"}."""
    minors: dict[tuple[str, str], int] = {}
    for vg, data in sorted(state["vgs"].items()):
        for lv in data["lvs"]:
            if lv["active"]:
                minors[(vg, lv["name"])] = len(minors) * 3  # room for a pvmove's two images
    devices: dict[str, State] = {}
    for vg, data in sorted(state["vgs"].items()):
        ext = data["extent_size"] // SECTOR
        for lv in data["lvs"]:
            if not lv["active"]:
                continue
            minor = minors[(vg, lv["name"])]
            base = {"uuid": "LVM-" + (data["uuid"] + lv["uuid"]).replace("-", ""), "attr": "L--w"}
            if lv.get("pvmove"):
                base["uuid"] += layer_suffix()
                devices.update(_pvmove_devices(state, vg, lv, base, minor))
                continue
            if lv.get("orphan"):  # 2.03.38 on (lv_is_orphan_pvmove()), its UUID has the layer suffix too
                base["uuid"] += layer_suffix() if since("2.03.38") and not lv.get("image_of") else ""
                devices[dm_name(vg, lv["name"])] = {**base, "table": [f"0 {ext} error"],
                                                    "status": [f"0 {ext} error "], "minor": minor}
                continue
            table, status, start = [], [], 0
            for seg in lv["segments"]:
                dev, pe = seg["devices"][0]
                length = seg["size_pe"] * ext
                if dev in data["pvs"]:
                    table.append(f"{start} {length} linear {data['pvs'][dev]} {PE_START_SECTORS + pe * ext}")
                else:  # mapped onto pvmoveN
                    table.append(f"{start} {length} linear {DM_MAJOR}:{minors.get((vg, dev), 0)} {pe * ext}")
                status.append(f"{start} {length} linear ")
                start += length
            devices[dm_name(vg, lv["name"])] = {**base, "table": table, "status": status, "minor": minor}
    for dev in devices.values():
        dev["devnum"] = f"{DM_MAJOR}:{dev['minor']}"
    return devices


def _mirror_lines(start: int, length: int, legs: list[tuple[str, int]], synced_sectors: float,
                  health: str) -> tuple[str, str]:
    regions = -(-length // REGION_SECTORS)
    in_sync = min(regions, int(synced_sectors // REGION_SECTORS))
    if synced_sectors >= length:
        in_sync = regions
    table = f"{start} {length} mirror core 1 {REGION_SECTORS} 2 " + " ".join(f"{d} {o}" for d, o in legs)
    status = f"{start} {length} mirror 2 {legs[0][0]} {legs[1][0]} {in_sync}/{regions} 1 {health} 1 core"
    return table, status


def _pvmove_devices(state: State, vg: str, move: State, base: State, minor: int) -> dict[str, State]:
    data = state["vgs"][vg]
    ext = data["extent_size"] // SECTOR
    pvs = data["pvs"]
    name = dm_name(vg, move["name"])
    copied = copied_pe(move) * ext
    out: dict[str, State] = {}
    table: list[str] = []
    status: list[str] = []
    if move["atomic"]:
        images = []
        for n, side in ((0, "src"), (1, "dst")):
            lines, start = [], 0
            for p in move["pieces"]:
                dev, pe = p[side]
                lines.append(f"{start} {p['size_pe'] * ext} linear {pvs[dev]} {PE_START_SECTORS + pe * ext}")
                start += p["size_pe"] * ext
            image = f"{name}_mimage_{n}"
            uuid = "LVM-" + (data["uuid"] + move["image_uuids"][str(n)]).replace("-", "") + layer_suffix()
            out[image] = {**base, "uuid": uuid, "table": lines,
                          "status": [f"{ln.split()[0]} {ln.split()[1]} linear " for ln in lines],
                          "minor": minor + 1 + n}
            images.append((f"{DM_MAJOR}:{minor + 1 + n}", 0))
        total = sum(p["size_pe"] for p in move["pieces"]) * ext
        t, s = _mirror_lines(0, total, images, copied, move["health"])
        table, status = [t], [s]
    else:
        start = 0
        for index, p in enumerate(move["pieces"]):
            length = p["size_pe"] * ext
            src = (pvs[p["src"][0]], PE_START_SECTORS + p["src"][1] * ext)
            dst = (pvs[p["dst"][0]], PE_START_SECTORS + p["dst"][1] * ext)
            if index < move["checkpointed"]:
                table.append(f"{start} {length} linear {dst[0]} {dst[1]}")
                status.append(f"{start} {length} linear ")
            elif index == move["checkpointed"]:
                t, s = _mirror_lines(start, length, [src, dst], copied, move["health"])
                table.append(t)
                status.append(s)
            else:
                table.append(f"{start} {length} linear {src[0]} {src[1]}")
                status.append(f"{start} {length} linear ")
            start += length
    attr = {"live": "L--w", "suspended": "L-sw", "nolive": "---w"}[move.get("dm", "live")]
    out[name] = {**base, "table": table if attr[0] == "L" else [], "status": status if attr[0] == "L" else [],
                 "minor": minor, "attr": attr}
    return out


# ---- fake /proc registration ----------------------------------------------------------------------------------

LVM_BINARY = os.path.realpath(Path(__file__).resolve().parent / "bin" / "lvm")


def register_process(argv: list[str], pid: int | None = None) -> Path | None:
    """Show this process (or `pid`) in the fake /proc (`LVMOVE_PROC`) with an LVM-looking cmdline, exe and
    comm; real syscall/stat/status/cgroup."""
    root = os.environ.get("LVMOVE_PROC")
    if not root:
        return None
    pid = pid or os.getpid()
    entry = Path(root) / str(pid)
    entry.mkdir(parents=True, exist_ok=True)
    for name in ("syscall", "stat", "wchan", "status", "cgroup"):
        with contextlib.suppress(FileExistsError):
            (entry / name).symlink_to(f"/proc/{pid}/{name}")
    # What the kernel says of an `lvm` process: its exe is the lvm binary (here: this fake), comm "lvm".
    with contextlib.suppress(FileExistsError):
        (entry / "exe").symlink_to(LVM_BINARY)
    (entry / "comm").write_text("lvm\n")
    tmp = entry / f".cmdline.{os.getpid()}"
    tmp.write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    tmp.replace(entry / "cmdline")
    return entry


def unregister_process(entry: Path | None) -> None:
    if entry is not None:
        shutil.rmtree(entry, ignore_errors=True)


# ---- helpers for commands ---------------------------------------------------------------------------------------

def fail(message: str, code: int = 5) -> int:
    print(message, file=sys.stderr)
    return code


def busy_wait(seconds: float) -> None:
    """Wait without a sleep syscall (select), like LVM holding a lock or committing metadata."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        select.select([], [], [], left)


class Woken(Exception):
    """A handled signal other than SIGINT/SIGTERM ended the poller's sleep early."""


class SleepWindow:
    """SIGINT/SIGTERM in LVM's poll loop: honoured only while sleeping; otherwise deferred (and counted).

    `background`: LVM's forked poller (`pvmove -b` without lvmpolld) has a SIGCHLD handler (toollib.c
    become_daemon()); SIGCHLD during the sleep ends the sleep (nanosleep returns) and the loop checks at once.
    """

    def __init__(self, *, background: bool = False) -> None:
        self.sleeping = False
        self.pending = False
        self.outside = 0
        self.wakes = 0
        signal.signal(signal.SIGINT, self._handler)
        signal.signal(signal.SIGTERM, self._handler)
        if background:
            signal.signal(signal.SIGCHLD, self._wake)

    def _wake(self, _signum: int, _frame: object) -> None:
        if self.sleeping:
            self.wakes += 1
            raise Woken

    def _handler(self, _signum: int, _frame: object) -> None:
        if self.sleeping:
            raise KeyboardInterrupt
        self.pending = True
        self.outside += 1

    def sleep(self, seconds: float) -> None:
        if self.pending:
            raise KeyboardInterrupt
        self.sleeping = True
        try:
            time.sleep(seconds)
        except Woken:
            pass
        finally:
            self.sleeping = False
