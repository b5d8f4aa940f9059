"""`lvmove` subcommands: status, start, watch, abort, move, run."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lvmove_hooks import __version__, dm, lvm, statefile
from lvmove_hooks.errors import BadInput, CommandFailed, Exit, LvmoveError, NeedsRoot, NoSuchMove, codes_text
from lvmove_hooks.model import LogicalVolume, Move, find_moves
from lvmove_hooks.names import check_name, parse_lvref
from lvmove_hooks.progress import human_bytes
from lvmove_hooks.targets import is_pv_name, match, parse_target

if TYPE_CHECKING:
    from lvmove_hooks import config, rangejob, recopy

# A command imports what it runs, inside its function: the import of the whole package is most of what a short
# command costs in an emulated guest (bench/RESULTS.md), and `lvmove status` needs none of the poll machinery.

EPILOG = textwrap.fill(codes_text(), width=100)
ABORT_WAIT = 300.0  # how long `lvmove abort` waits for the move to be gone after LVM's abort returned


ALLOC_POLICIES = ("contiguous", "cling", "cling_by_tags", "normal", "anywhere", "inherit")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lvmove", description="Resume, watch and finish LVM2 pvmove operations as systemd units.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lvmove {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every command run")
    # -v after the subcommand too (`lvmove status -v`), as LVM's commands take it anywhere.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log every command run")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add = functools.partial(sub.add_parser, parents=[common])

    _status_options(add("status", help="list in-flight moves with progress"))

    p = add("start", help="start (or resume) the unit that carries a move")
    p.add_argument("target", help="VG/LV, unit instance, dm name or source PV")

    p = add("watch", help="show live progress until the move(s) end")
    p.add_argument("target", nargs="?", help="only this move (default: all)")
    p.add_argument("-i", "--interval", type=float, default=2.0, help="seconds between updates (default 2)")

    p = add("abort", help="abort a move with LVM's own abort")
    p.add_argument("target", help="VG/LV, unit instance, dm name or source PV")

    p = add("pause", help="stop carrying a move until 'lvmove resume' (survives reboots)")
    p.add_argument("target", help="VG/LV, unit instance, dm name or source PV")

    p = add("resume", help="carry a paused move again")
    p.add_argument("target", help="VG/LV, unit instance, dm name or source PV")

    p = add("move", help="start a new move carried by lvmove's unit")
    p.add_argument("source", help="source PV, e.g. /dev/sdb")
    p.add_argument("destinations", nargs="*", help="destination PV(s) (default: LVM chooses)")
    p.add_argument("-n", "--name", "--lv", dest="lv", metavar="LV",
                   help="move only the extents of this LV (pvmove -n)")
    p.add_argument("--alloc", choices=ALLOC_POLICIES, help="allocation policy for the destination (pvmove --alloc)")
    p.add_argument("--atomic", action="store_true", help="all-or-nothing move (pvmove --atomic)")
    p.add_argument("--wait", action="store_true", help="watch it until it ends")

    p = add("check-vg", help="look at a VG for inactive moves and orphans (the body of lvmove-vg@.service)")
    p.add_argument("vg", metavar="VG", help="the volume group")

    p = add("run", help="carry a move to its end (the body of lvmove@.service)")
    p.add_argument("lv", metavar="VG/LV", help="the pvmove LV, e.g. vg0/pvmove0")
    return parser


def _status_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", nargs="?", help="only this move")
    p.add_argument("--json", action="store_true", help="machine-readable output (schema in lvmove(8))")
    p.add_argument("-o", "--options", action="append", default=[], metavar="FIELD[,FIELD...]",
                   help="columns, lvs-like field names ('-o help' lists them; -o+FIELD adds, -o-FIELD removes)")
    p.add_argument("--noheadings", action="store_true", help="no header line")
    p.add_argument("--separator", metavar="SEP", help="join the cells with SEP instead of aligning them")
    p.add_argument("--units", choices=("b", "k", "m", "g", "t", "h"), default="h",
                   help="sizes in bytes, KiB, MiB, GiB, TiB (as lvs: lowercase, powers of 1024) or human (default)")
    p.add_argument("--nosuffix", action="store_true", help="sizes without the unit letter")
    p.add_argument("--map", action="store_true", help="draw where each moved LV segment is now (one move)")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="lvmove: %(message)s", stream=sys.stderr, force=True,
    )
    handler = {
        "status": cmd_status, "start": cmd_start, "watch": cmd_watch, "abort": cmd_abort,
        "move": cmd_move, "run": cmd_run, "pause": cmd_pause, "resume": cmd_resume, "check-vg": cmd_check_vg,
    }[args.command]
    try:
        return int(handler(args))
    except LvmoveError as exc:
        print(f"lvmove: {exc}", file=sys.stderr)
        return int(exc.code)
    except KeyboardInterrupt:  # Ctrl-C in an interactive command (the unit stops through SIGINT handling)
        print("lvmove: interrupted", file=sys.stderr)
        return int(Exit.SIGINT)
    except BrokenPipeError:
        return int(Exit.OK)


def need_root(what: str) -> None:
    if os.geteuid() != 0 and not os.environ.get("LVMOVE_ALLOW_NONROOT"):
        raise NeedsRoot(f"'lvmove {what}' needs root (LVM reads and changes the disks)",
                        hint=f"run it with sudo: sudo lvmove {what} ...")


# ---- status ----------------------------------------------------------------------------------------------

def cmd_status(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from lvmove_hooks import fields, status, units

    if "help" in ",".join(args.options).replace("+", ",").replace("-", ",").split(","):
        print("\n".join(fields.help_text()))
        return int(Exit.OK)
    columns = fields.select(args.options)  # bad field names fail before anything runs
    if args.json and (args.options or args.map):
        raise BadInput("--json takes no -o or --map", hint="the JSON has every field; see lvmove(8)")
    if args.map and not args.target:
        raise BadInput("--map draws one move", hint="name it: lvmove status VG/pvmoveN --map")
    target = parse_target(args.target) if args.target else None
    need_root("status")
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The units' states and LVM's report are independent: ask both at once.
        asked = pool.submit(units.states)
        vg_report = lvm.read()
        unit_states = asked.result()
    volumes = vg_report.volumes
    only = [match(target, find_moves(volumes))] if target is not None else None
    view = status.collect(volumes, unit_states, only, vg_report.missing)
    style = fields.Style(args.units, not args.nosuffix, args.separator, not args.noheadings)
    if args.json:
        print(json.dumps(view, indent=2))
    elif args.map:
        assert only is not None
        print("\n".join(_map_lines(only[0], volumes, view["moves"][0]["percent"])[0]))
    elif args.options or args.noheadings or args.separator is not None:
        # For scripts: only the table on stdout; what needs the admin goes to stderr (and the exit code).
        lines = fields.render(view["moves"], columns, style)
        if lines:
            print("\n".join(lines))
        for line in status.notes(view):
            print(f"lvmove: {line}", file=sys.stderr)
    else:
        print("\n".join(status.table(view, columns, style)))
    return int(Exit.ATTENTION if view["attention"] else Exit.OK)


def _map_lines(move: Move, volumes: list[LogicalVolume], percent: float | None) -> tuple[list[str], float | None]:
    """The picture of the move (movemap.py) and its percent (`percent`: None to read it here, with the same
    kernel reading)."""
    from lvmove_hooks import movemap
    from lvmove_hooks.status import current_percent

    kernel = dm.Kernel()
    try:
        got = kernel.read(move.dm_name) if move.active else None
        if percent is None:
            percent = current_percent(move, kernel, got)
        seen = movemap.read_kernel(move, kernel, got)
    finally:
        kernel.close()
    return movemap.render(movemap.build(move, volumes, seen, percent)), percent


# ---- start / run / move --------------------------------------------------------------------------------

def cmd_start(args: argparse.Namespace) -> int:
    from lvmove_hooks import pause

    target = parse_target(args.target)
    need_root("start")
    vg_report = lvm.read()
    move = match(target, find_moves(vg_report.volumes))
    waiting = move.waits_for(vg_report.missing)
    if waiting:
        raise CommandFailed(f"{move.ref} waits for " + ", ".join(pv.describe() for pv in waiting)
                            + ", which LVM cannot find: nothing started, nothing changed",
                            hint="connect the disk again; the move resumes by itself when LVM activates the VG")
    if pause.paused_uuid(move.ref.instance) == move.uuid:
        raise CommandFailed(f"{move.ref} is paused (lvmove pause)",
                            hint=f"carry it again with: lvmove resume {move.ref}")
    return _start(move)


def _start(move: Move) -> int:
    from lvmove_hooks import carry, config, units

    blocked = carry.blockers(move.ref.vg, config.load(), move.ref)
    if blocked:
        raise CommandFailed(f"{move.ref.unit} would not carry {move.ref}: " + "; ".join(blocked),
                            hint=f"remove that obstacle, or carry it in this shell: lvmove run {move.ref}")
    statefile.set_flag(statefile.MANUAL_FLAG, move.ref.instance)
    units.start(move.ref.unit)
    why = carry.confirm_running(move.ref.unit, lambda: lvm.find_by_uuid(move.ref.vg, move.uuid)[0] is None)
    if why is not None:
        raise CommandFailed(f"{move.ref} is not being carried: {why}",
                            hint=f"see 'systemctl status {move.ref.unit}', or carry it here: lvmove run {move.ref}")
    print(f"started {move.ref.unit} for {move.ref} ({move.mode}, {move.source} -> "
          f"{', '.join(move.destinations) or '?'})")
    print(f"watch it with: lvmove watch {move.ref}   or: journalctl -f -u '{move.ref.unit}'")
    return int(Exit.OK)


def cmd_pause(args: argparse.Namespace) -> int:
    from lvmove_hooks import pause, units
    from lvmove_hooks.status import current_percent

    target = parse_target(args.target)
    need_root("pause")
    move = match(target, lvm.moves())
    pause.pause(move.ref.instance, move.uuid)
    units.stop(move.ref.unit)
    kernel = dm.Kernel()
    pct = current_percent(move, kernel)
    kernel.close()
    print(f"paused {move.ref} at {f'{pct:.1f}%' if pct is not None else '?'}: lvmove will not carry it (not by "
          f"udev, the generator or at boot) until 'lvmove resume {move.ref}'")
    print("the move stays in LVM's metadata; the kernel finishes copying the segment in flight, and no "
          "checkpoint is made while paused" + ("" if move.mode == "by-segment" else " (atomic: nothing is final "
                                               "before the finish)"))
    return int(Exit.OK)


def cmd_resume(args: argparse.Namespace) -> int:
    from lvmove_hooks import pause

    target = parse_target(args.target)
    need_root("resume")
    move = match(target, lvm.moves())
    if not pause.resume(move.ref.instance):
        print(f"{move.ref} was not paused")
    return _start(move)


def cmd_check_vg(args: argparse.Namespace) -> int:
    from lvmove_hooks import config, journal, vgcheck

    vg = check_name(args.vg, "volume group")
    need_root("check-vg")
    statefile.set_flag(statefile.VG_CHECKED_FLAG, vg, subdir=True)  # the udev rule starts no more checks of it
    found = vgcheck.check(vg, config.load())
    if journal.under_systemd() and found:
        return int(Exit.OK)  # each finding is in the journal once already, with its MESSAGE_ID
    for item in found:
        print(f"{item.ref}: {item.what}: {item.action}")
    if not found:
        print(f"{vg}: nothing to do")
    return int(Exit.OK)


def cmd_run(args: argparse.Namespace) -> int:
    from lvmove_hooks import config, journal, service

    ref = parse_lvref(args.lv)
    need_root("run")
    cfg = config.load()
    manual = statefile.take_flag(statefile.MANUAL_FLAG, ref.instance)
    if not cfg.auto_resume and not manual and os.environ.get("INVOCATION_ID"):
        print(f"lvmove: auto_resume is false in {cfg.path}; not resuming {ref}. "
              f"Start it by hand with: lvmove start {ref}")
        return int(Exit.OK)
    outcome = service.run(ref, cfg)
    if not (outcome.logged and journal.under_systemd()):  # the journal has it once, with its MESSAGE_ID
        print(f"lvmove: {ref}: {outcome.message}")
    return int(Exit.OK)


def cmd_move(args: argparse.Namespace) -> int:
    from lvmove_hooks import carry, config, pause, rangemove, recopy

    source = args.source.split(":", 1)[0]  # SRC:PE-range (as pvmove takes it) names the PV SRC
    for path in [args.source, *args.destinations]:
        if not is_pv_name(path.split(":", 1)[0]):
            raise BadInput(f"{path!r} is not a PV device path",
                           hint="name PVs as LVM does: /dev/sdb, /dev/mapper/luks-..., /dev/disk/by-id/...")
    if args.lv:
        check_name(args.lv.split("/")[-1], "logical volume")
    asked = _asked_ranges(args.source)
    need_root("move")
    for path in [args.source, *args.destinations]:
        if not os.path.exists(path.split(":", 1)[0]):
            raise BadInput(f"{path.split(':', 1)[0]} does not exist", hint="check the device name with 'pvs'")
    cfg = config.load()  # a broken config fails here, before LVM changes anything
    volumes = lvm.report()
    vg = lvm.vg_of_pv(source, volumes)
    bound = _recopy_bound(cfg, recopy.pieces_on(volumes, source, args.lv), args.atomic)
    blocked = carry.blockers(vg, cfg)
    job = None
    if bound.ranges and vg and not blocked:
        job = rangemove.create(vg, source, args.destinations, lv=args.lv, alloc=args.alloc,
                               chunk_mib=cfg.max_recopy, volumes=volumes, asked=asked)
    if bound.note and job is None:
        print(f"lvmove: note: {bound.note}", file=sys.stderr)
    _set_up(args, bound, blocked, job)
    try:
        move = match(source, lvm.moves([vg] if vg else ()))
    except NoSuchMove:
        print(f"{args.source}: nothing left to move (pvmove finished at once)")
        return int(Exit.OK)
    pause.clear_stale(move.ref.instance, move.uuid)  # a flag left by an earlier move of that name
    if blocked:
        who = "carried by LVM's own poller"
    else:
        statefile.set_flag(statefile.MANUAL_FLAG, move.ref.instance)
        who = carry.hand_over(move)
    what = (f"{human_bytes(move.size)} from {move.source}" if job is None else
            f"{human_bytes(job.total_pe * job.extent_size)} from {move.source} in ranges of at most "
            f"{human_bytes(job.chunk_pe * job.extent_size)} (max_recopy; this LVM cannot split segments), "
            f"the first of {human_bytes(move.size)}")
    print(f"moving {what} to {', '.join(move.destinations) or '?'} as {move.ref} ({move.mode}), {who}")
    if args.wait:
        return _wait(move, job)
    print(f"watch it with: lvmove watch {move.ref}")
    return int(Exit.OK)


def _wait(move: Move, job: rangejob.Job | None) -> int:
    """`lvmove move --wait`: follow the move, and a job's ranges one after another, to the end."""
    from lvmove_hooks import rangemove

    code = watch([move.ref.instance], interval=2.0)
    while job is not None and code == int(Exit.OK):
        following = rangemove.wait_next(job)
        if following is None:
            break
        code = watch([following.ref.instance], interval=2.0)
    return code


def _asked_ranges(source: str) -> tuple[rangejob.Run, ...]:
    from lvmove_hooks import rangejob

    if ":" not in source:
        return ()
    try:
        return rangejob.parse_ranges(source.split(":", 1)[1])
    except ValueError:
        raise BadInput(f"{source!r}: the extent ranges after ':' are not pvmove's (a-b, a+n or a, joined by ':')",
                       hint="for example /dev/sdb:0-999 or /dev/sdb:0-99:200-299") from None


def _set_up(args: argparse.Namespace, bound: recopy.Bound, blocked: list[str], job: rangejob.Job | None) -> None:
    """Let LVM's pvmove set the new move up: for lvmove's unit (the first range of a job), or, when the unit
    would not run, for LVM's own poller."""
    from lvmove_hooks import rangemove

    if blocked:
        # lvmove's unit would not run: leave the move to LVM's own polling rather than to nobody.
        print(f"lvmove: lvmove's unit would not carry this move ({'; '.join(blocked)}); "
              "LVM's own poller carries it", file=sys.stderr)
        lvm.start_move_with_lvm_poller(args.source, args.destinations, lv=args.lv, atomic=args.atomic,
                                       alloc=args.alloc, setting=bound.setting)
    elif job is not None:
        if rangemove.start_next(job, lvm.pv_names(job.vg)) is None:
            raise CommandFailed(f"{args.source}: the first extent range did not start",
                                hint=f"see 'journalctl -t lvmove' and 'pvs {job.source}'")
    else:
        lvm.start_move(args.source, args.destinations, lv=args.lv, atomic=args.atomic, alloc=args.alloc,
                       setting=bound.setting)


def _recopy_bound(cfg: config.Config, pieces: list[int], atomic: bool) -> recopy.Bound:
    """How `lvmove move` bounds what a crash makes the new move copy again (recopy.py)."""
    from lvmove_hooks import recopy

    at_once = sum(pieces) if atomic else max(pieces, default=0)  # what one mirror copies
    if not cfg.max_recopy or at_once <= cfg.max_recopy * recopy.MIB:
        return recopy.Bound()  # nothing to split: no lvmconfig call
    bound = recopy.decide(max_recopy_mib=cfg.max_recopy, pieces=pieces, atomic=atomic,
                          lvm_value=lvm.max_segment_setting())
    if bound.setting:
        print(f"pieces of at most {human_bytes(cfg.max_recopy * recopy.MIB)} (max_recopy), each "
              f"checkpointed: a crash copies at most that again ({bound.setting})")
    return bound


# ---- watch ------------------------------------------------------------------------------------------------

def cmd_watch(args: argparse.Namespace) -> int:
    target = parse_target(args.target) if args.target else None
    need_root("watch")
    moves = lvm.moves()
    if target is not None:
        moves = [match(target, moves)]
    if not moves:
        print("no pvmove in flight")
        return int(Exit.OK)
    return watch([m.ref.instance for m in moves], interval=max(0.5, args.interval))


def watch(instances: list[str], *, interval: float) -> int:
    """Follow moves until they end (see watchview.py): a redrawn line per move on a terminal, else plain lines."""
    from lvmove_hooks import watchview

    return watchview.follow(instances, interval=interval)


# ---- abort ------------------------------------------------------------------------------------------------

def cmd_abort(args: argparse.Namespace) -> int:
    from lvmove_hooks import pause
    from lvmove_hooks.ending import placement

    target = parse_target(args.target)
    need_root("abort")
    volumes = lvm.report()
    try:
        move = match(target, find_moves(volumes))
    except NoSuchMove:
        if isinstance(target, str) and _end_jobs(target):
            return int(Exit.OK)
        raise
    picture, percent = _map_lines(move, volumes, None)
    print("\n".join(picture))  # what stays where, before LVM changes anything
    if move.mode == "atomic":
        print(f"aborting {move.ref} (atomic): everything goes back to {move.source}")
    else:
        pct = percent
        print(f"aborting {move.ref} (by-segment, {pct if pct is not None else '?'}% copied): segments already "
              f"checkpointed stay on {', '.join(move.destinations) or 'the destination'}, "
              f"the rest goes back to {move.source}")
    statefile.set_flag(statefile.ABORT_FLAG, move.uuid)
    if not move.active:
        lvm.activate([lv.ref for lv in move.moved])
    try:
        lvm.abort(move.source)
    except LvmoveError:
        statefile.take_flag(statefile.ABORT_FLAG, move.uuid)
        raise
    gone = lvm.wait_gone(move.ref.vg, move.uuid, ABORT_WAIT)
    if gone is None:
        raise CommandFailed(f"{move.ref} is still there {ABORT_WAIT:.0f}s after LVM's abort returned",
                            hint=f"see 'lvmove status {move.ref}' and 'journalctl -u {move.ref.unit}'")
    volumes = gone
    for line in placement(move, volumes):
        print(f"  {line}")
    if statefile.read(move.ref.instance) is None:
        statefile.take_flag(statefile.ABORT_FLAG, move.uuid)  # no `lvmove run` shares progress: nobody will
    pause.resume(move.ref.instance)  # a paused move that is aborted is no longer paused
    print(f"aborted {move.ref}")
    _end_jobs(move.source, move.ref.vg)
    return int(Exit.OK)


def _end_jobs(source: str, vg: str | None = None) -> bool:
    """An abort ends the move in ranges off `source` too (its record), in flight or between two ranges."""
    from lvmove_hooks import rangejob, rangemove

    dropped = [job for name in ([vg] if vg else rangejob.vgs_with_jobs()) for job in rangemove.drop_for(name, source)]
    for job in dropped:
        print(f"ended the move of {job.vg} off {job.source} in ranges: no more ranges start")
    return bool(dropped)
