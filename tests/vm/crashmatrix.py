"""The crash matrix (issue 10): N crash points of a pvmove drawn at random (seeded), one machine each; after the
final boot, with no action by hand, each point checks every LV's sha256, vgck, that no pvmove LV, orphan or
failed lvmove unit is left, and that the journal says what lvmove did.

    python3 -m tests.vm.crashmatrix --points N [--seed S] [--generation trixie] [--out FILE] [--plan] [--keep]

A point is a crash kind x mode (by-segment / --atomic) x lvmpolld (on / off: lvm.conf global/use_lvmpolld=0)
x bus (scsi: the PVs appear after switch-root; blk: the initramfs sees them and activates the VG there):

  segment     the copy of segment k at p % (the kernel's in-sync regions of the running mirror)
  checkpoint  segment k just in sync (dmsetup status: N/N), LVM's table reload onto the next not yet seen
  finish      inside LVM's finish, between its two commits: aimed at, not guaranteed (the last segment in sync,
              then the moved LVs' live tables off pvmove0 while pvmove0 is still there)
  unit-start  as segment, then in the next boot a second crash as soon as lvmove@ is activating; a third boot

The crash method alternates by point: SIGKILL of qemu by the host on READY-TO-CRASH (the guest freezes LVM's
and lvmove's processes first, so the crash is the moment it saw) and `echo b > /proc/sysrq-trigger` in the
guest (qemu runs with -no-reboot and exits). The guest side is scenarios/crashpoint.sh.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from . import lvmbuild
from .generations import Generation, MatrixError
from .guest import GuestError
from .harness import Run, new_run, work_root
from .hostcmd import HostCommandError
from .image import Image, build
from .lvmbuild import LvmTree
from .lvmove_pkg import prepare_payload

log = logging.getLogger("lvmove.vm")

KINDS = ("segment", "checkpoint", "finish", "unit-start")
MODES = ("by-segment", "atomic")
LVMPOLLD = ("on", "off")
BUSES = ("scsi", "blk")
METHODS = ("sigkill", "sysrq")
# Segments of the move setup_vg makes (lv1 2 x 16 MiB, lv2 8 MiB on pv1): by-segment copies them one after the
# other, --atomic as one mirror.
SEGMENTS = {"by-segment": 3, "atomic": 1}
BUS_LABEL = {"scsi": "scsi (after switch-root)", "blk": "blk (initramfs)"}
METHOD_LABEL = {"sigkill": "SIGKILL qemu (host)", "sysrq": "sysrq-b (guest)"}
MAX_POINTS = 500
MIB = 1024 * 1024
MOVE_BPS = 2 * MIB  # boot 1's copy: 40 MiB in ~20 s plus LVM's checkpoints (the guest aims at 2-MiB regions)
AGAIN_BPS = 256 * 1024  # unit-start's boot 2: slow, so the move is still there when lvmove@ starts
FINAL_BPS = 4 * MIB  # the final boot (slow enough that lvmove@ starts before any other poller could finish)
DEFAULT_GENERATION = "trixie"
CI_POINTS = 2  # CI's sample (machine s14 of the VM suite): both modes, lvmpolld on and off, both buses
CI_SEED = 101  # its default seed (LVMOVE_CRASH_SEED overrides it; the seed is printed either way)
# What every point's final boot must have passed (scenarios/crashpoint.sh final_phase).
REQUIRED = ("journal-lvmove", "no-failed-event", "lvs-off-source", "checksums-vg", "vgck-vg", "nothing-broken-vg")

Combo = tuple[str, str, str, str]  # kind, mode, lvmpolld, bus


@dataclass(frozen=True)
class Point:
    index: int
    kind: str
    mode: str
    lvmpolld: str
    bus: str
    method: str
    segment: int  # 1-based: copied at `percent` (segment, unit-start) or just in sync (checkpoint); last (finish)
    percent: int

    @property
    def final_phase(self) -> int:
        return 3 if self.kind == "unit-start" else 2

    def where(self) -> str:
        """The planned crash point, in words."""
        of = f"{self.segment}/{SEGMENTS[self.mode]}"
        if self.kind == "checkpoint":
            return f"checkpoint: segment {of} just in sync, before LVM's reload"
        if self.kind == "finish":
            return "finish: between LVM's two commits (a window aimed at, not a guaranteed hit)"
        at = f"copy of segment {of} at {self.percent} %"
        return f"lvmove@ start in boot 2 (boot 1: {at})" if self.kind == "unit-start" else at

    def env(self) -> dict[str, str]:
        """scenario.env of the point's machine (read by scenarios/crashpoint.sh)."""
        return {
            "KIND": self.kind,
            "MODE": self.mode,
            "LVMPOLLD": "1" if self.lvmpolld == "on" else "0",
            "SEG": str(self.segment),
            "PCT": str(self.percent),
            "METHOD": self.method,
            "FINAL_PHASE": str(self.final_phase),
            "MOVE_BPS": str(MOVE_BPS),
            "INTERVAL": "2",
        }


def combos() -> list[Combo]:
    """Every valid (kind, mode, lvmpolld, bus): --atomic has one segment, so no checkpoint between segments."""
    return [
        (kind, mode, polld, bus)
        for kind in KINDS
        for mode in MODES
        for polld in LVMPOLLD
        for bus in BUSES
        if kind != "checkpoint" or SEGMENTS[mode] > 1
    ]


def _score(combo: Combo, seen: Counter[tuple[int, str]]) -> tuple[int, int]:
    """How often its values were drawn: its kind first (4 values, the rarest), then the others together."""
    counts = [seen[(dim, value)] for dim, value in enumerate(combo)]
    return counts[0], sum(counts[1:])


def _params(kind: str, mode: str, rng: random.Random) -> tuple[int, int]:
    segments = SEGMENTS[mode]
    if kind == "checkpoint":
        return rng.randint(1, segments - 1), 100
    if kind == "finish":
        return segments, 100
    return rng.randint(1, segments), 5 * rng.randint(1, 19)


def draw(count: int, seed: int) -> list[Point]:
    """`count` points, reproducible from `seed`. Each point is, among the combinations not drawn yet in this
    round of all of them, one whose values were drawn least so far (its kind first, then the other values;
    chosen at random among the ties): 2 points
    cover both values of mode, lvmpolld and bus, 4 every kind, one round (len(combos())) every combination.
    The method alternates (odd points SIGKILL, even ones sysrq). A longer draw begins with the shorter one."""
    rng = random.Random(seed)
    seen: Counter[tuple[int, str]] = Counter()
    pool: list[Combo] = []
    points: list[Point] = []
    for index in range(1, count + 1):
        pool = pool or combos()
        best = min(_score(c, seen) for c in pool)
        kind, mode, polld, bus = pick = rng.choice([c for c in pool if _score(c, seen) == best])
        pool.remove(pick)
        seen.update(enumerate(pick))
        segment, percent = _params(kind, mode, rng)
        method = METHODS[(index - 1) % len(METHODS)]
        points.append(Point(index, kind, mode, polld, bus, method, segment, percent))
    return points


# ---- results and the table ---------------------------------------------------------------------------------
@dataclass
class Result:
    point: Point
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    landed: list[str] = field(default_factory=list)  # what the guest saw at each crash
    did: str = ""  # what lvmove did, as the final boot's journal says
    lvm_version: str = "?"
    ran: bool = True  # False: only planned (--plan)

    @property
    def passed(self) -> bool:
        return self.ran and not self.problems

    @property
    def outcome(self) -> str:
        if not self.ran:
            return "planned"
        return "pass" if self.passed else "FAIL: " + "; ".join(self.problems)


def judge(lines: Iterable[str], required: Iterable[str] = REQUIRED) -> list[str]:
    """The problems in a guest's checks.txt: each FAIL (name and detail, shortened) and each required check
    that did not pass."""
    lines = list(lines)
    problems = [_shorten(line.removeprefix("FAIL ")) for line in lines if line.startswith("FAIL")]
    passed = {line.split()[1] for line in lines if line.startswith("PASS ") and len(line.split()) > 1}
    failed = {p.split()[0] for p in problems}
    return problems + [f"{name} missing" for name in required if name not in passed and name not in failed]


def _shorten(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|") or "-"


def row(result: Result) -> list[str]:
    p = result.point
    where = p.where() + (" → seen: " + "; ".join(result.landed) if result.landed else "")
    seconds = f"{result.seconds:.0f}" if result.ran else "-"
    return [str(p.index), p.mode, p.lvmpolld, BUS_LABEL[p.bus], where, METHOD_LABEL[p.method],
            result.did or "-", result.outcome, seconds]


HEADER = ["point", "mode", "lvmpolld", "bus", "crash kind / where", "crash method", "lvmove did", "outcome",
          "seconds"]


def render_table(results: list[Result], *, seed: int, generation: str) -> str:
    """The matrix as markdown: a summary line and one row per point."""
    ran = [r for r in results if r.ran]
    versions = ", ".join(dict.fromkeys(r.lvm_version for r in ran if r.lvm_version != "?")) or "-"
    summary = f"seed {seed}, {len(results)} point(s), generation {generation} (guest LVM {versions})"
    if ran:
        failed = sum(not r.passed for r in ran)
        summary += f": {len(ran) - failed} passed, {failed} failed, {sum(r.seconds for r in ran):.0f} s"
    lines = [summary, "", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(_cell(c) for c in row(r)) + " |" for r in results]
    return "\n".join(lines) + "\n"


# ---- arguments ---------------------------------------------------------------------------------------------
def _points(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_POINTS:
        raise argparse.ArgumentTypeError(f"expected a whole number of crash points from 1 to {MAX_POINTS}, "
                                         f"not {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, not {text!r}")
    return value


def _generation(text: str) -> Generation:
    try:
        return Generation.parse(text)
    except MatrixError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _out(text: str) -> Path:
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a directory; give a file name, "
                                         f"e.g. {text.rstrip('/')}/matrix.md")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: directory {str(path.parent)!r} does not exist")
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python3 -m tests.vm.crashmatrix",
                                     description="Crash lvmove's pvmoves at N random (seeded) points in qemu guests.")
    parser.add_argument("--points", type=_points, required=True, help="how many crash points to draw and run")
    parser.add_argument("--seed", type=_seed, default=None, help="seed of the draw (default: a random one, printed)")
    parser.add_argument("--generation", type=_generation, default=Generation.parse(DEFAULT_GENERATION),
                        help="guest suite[+upstream LVM], e.g. bookworm, bookworm+2.03.39 "
                        f"(default {DEFAULT_GENERATION})")
    parser.add_argument("--out", type=_out, default=None, help="also write the table as markdown to this file")
    parser.add_argument("--plan", action="store_true", help="print the drawn points and exit (no guest)")
    parser.add_argument("--keep", action="store_true", help="keep the machines' disk files")
    parser.add_argument("--only", type=_only, default=None, metavar="N,N,...",
                        help="of the drawn points, run only these (by number): a re-run of some points of a draw")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1_000_000)
    if args.only is not None and not args.only <= set(range(1, args.points + 1)):
        parser.error(f"--only {','.join(map(str, sorted(args.only)))}: the draw has points 1 to {args.points}; "
                     "name points of it, or draw more with --points")
    return args


def _only(text: str) -> set[int]:
    try:
        numbers = {int(part) for part in text.split(",") if part.strip()}
    except ValueError:
        message = f"expected point numbers separated by commas (e.g. 8,18), not {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if not numbers:
        raise argparse.ArgumentTypeError("expected at least one point number (e.g. 8,18)")
    return numbers


# ---- running the points in guests ----------------------------------------------------------------------------
@dataclass
class Context:
    generation: Generation
    seed: int
    keep: bool
    image: Image | None = None
    payload: Path | None = None
    lvm: LvmTree | None = None


def _crash(run: Run, phase: int, method: str, timeout: float) -> None:
    """Boot `phase` of the machine and let it crash where its script says: SIGKILL by the host on
    READY-TO-CRASH, or sysrq-b in the guest (qemu exits by itself; a marker lost in the serial line's buffer
    when the guest reset is tolerated when the guest wrote out/crash.<boot>.txt first)."""
    if method == "sigkill":
        run.crash_phase(phase, timeout)
        return
    guest = run.guest
    try:
        run.phase(phase, "CRASH-SYSRQ", timeout)  # (a kernel panic before the runner: booted again)
    except GuestError:
        if guest.running() or not (run.out / f"crash.{guest.boots}.txt").exists():
            raise
        log.info("qemu exited after the guest's crash note (marker lost with the reset)")
    guest.wait_exit(60)


def _read(path: Path) -> str:
    return " ".join(path.read_text(errors="replace").split()) if path.exists() else ""


def run_point(point: Point, ctx: Context) -> Result:
    """One point on a fresh machine: crash(es), the final boot, the guest's checks judged."""
    if ctx.image is None:
        raise ValueError("prepare(ctx) first: no guest image")
    started = time.monotonic()
    result = Result(point)
    tag = f"crashmatrix-{ctx.seed}-p{point.index:02d}"
    run = new_run("crashpoint", ctx.image, bus=point.bus, pv_count=2, payload=ctx.payload, tag=tag,
                  env=point.env(), lvm=ctx.lvm)
    try:
        _crash(run, 1, point.method, timeout=480)
        if point.kind == "unit-start":
            run.guest.boot_bps = AGAIN_BPS
            _crash(run, 2, point.method, timeout=420)
        run.guest.boot_bps = FINAL_BPS
        run.final_phase(point.final_phase, timeout=720)
        result.problems = judge(run.checks().lines)
    except (GuestError, HostCommandError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        result.problems = [*judge(run.checks().lines, required=()), f"harness: {_shorten(first)}"]
    finally:
        run.close(keep=ctx.keep)
        result.seconds = time.monotonic() - started
        result.landed = crash_notes(run.out, point.final_phase)
        result.did = _read(run.out / "lvmove-did.txt")
        result.lvm_version = run.lvm_version()
    return result


def crash_notes(out: Path, final_phase: int) -> list[str]:
    """What each crashing phase hit, in order. The guest names its note by boot (crash.<boot>.txt), and a boot
    whose kernel panicked before the runner (booted again) writes none, so phase N's note may be boot N+1's."""
    notes = sorted(out.glob("crash.*.txt"), key=lambda p: int(p.stem[6:]) if p.stem[6:].isdigit() else 0)
    landed = [_read(p) or f"phase {i}: empty crash note" for i, p in enumerate(notes, 1)]
    return landed + [f"phase {i}: no crash note" for i in range(len(landed) + 1, final_phase)]


def prepare(ctx: Context) -> None:
    """The generation's image (cached), its upstream LVM tree if any, and lvmove's .deb (`make deb`)."""
    ctx.image = build(ctx.generation.suite)
    ctx.lvm = lvmbuild.build(ctx.generation.lvm) if ctx.generation.lvm else None
    ctx.payload = prepare_payload(work_root() / "payload-crashmatrix")


def run_matrix(points: list[Point], ctx: Context, out: Path | None) -> list[Result]:
    results = [Result(p, ran=False) for p in points]
    for i, point in enumerate(points):
        log.info("crash matrix point %d/%d: %s", point.index, len(points), " ".join(row(results[i])[1:6]))
        results[i] = run_point(point, ctx)
        print(f"point {point.index}: {results[i].outcome} ({results[i].seconds:.0f} s)", flush=True)
        if out is not None:  # after each point: a long run's table so far
            out.write_text(render_table(results, seed=ctx.seed, generation=ctx.generation.name))
    return results


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through run_point's finally: no qemu is left running


def ci_seed(env: dict[str, str] | None = None) -> int:
    """The seed of CI's sample: $LVMOVE_CRASH_SEED when set (a whole number >= 0), else CI_SEED."""
    text = (os.environ if env is None else env).get("LVMOVE_CRASH_SEED", "").strip()
    if not text:
        return CI_SEED
    try:
        return _seed(text)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f"LVMOVE_CRASH_SEED: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"crash matrix: seed {args.seed}", flush=True)
    points = [p for p in draw(args.points, args.seed) if args.only is None or p.index in args.only]
    ctx = Context(args.generation, args.seed, args.keep)
    if args.plan:
        print(render_table([Result(p, ran=False) for p in points], seed=args.seed, generation=args.generation.name),
              end="")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    prepare(ctx)
    results = run_matrix(points, ctx, args.out)
    text = render_table(results, seed=args.seed, generation=args.generation.name)
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)
        print(f"table written to {args.out}")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
