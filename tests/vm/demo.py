"""The README's demo: a throwaway Debian 12 guest, a pvmove crashed mid-way, lvmove finishing it after reboot.

./demo.sh (as root) or sudo ./demo.sh      (installs what it needs, then runs `python3 -m tests.vm.demo`)

A failed step never ends in a traceback: it prints one line with what failed, its log file and the fix, and
the demo exits 1 (130 on Ctrl-C). On a slow host LVMOVE_DEMO_TIMEOUT_SCALE=2 doubles the guests' time limits.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .guest import GuestError
from .harness import Run, new_run, work_root
from .hostcmd import HostCommandError
from .image import HOST_TOOLS, Image, build, cache_root, missing_host_tools
from .lvmove_pkg import prepare_payload

FOLLOWED = ("phase1.log", "phase2.log", "progress-vg.txt")
AGAIN = "then run ./demo.sh again"


class StepFailed(Exception):
    """An expected failure of one demo step: what failed, the log to read, the fix."""

    def __init__(self, what: str, log: Path, fix: str) -> None:
        super().__init__(what)
        self.what, self.log, self.fix = what, log, fix


def one_line(exc: BaseException, limit: int = 160) -> str:
    """The first line of an error message, whitespace collapsed, cut to `limit` characters.

    A HostCommandError's `exit N: argv...` / `timed out after Ns: argv...` is told by the program's name only
    (the whole command is in the log)."""
    text = " ".join((str(exc).strip().splitlines() or [type(exc).__name__])[0].split())
    if isinstance(exc, HostCommandError):
        failed = re.match(r"(exit \d+|timed out after \S+): (\S+)", text)
        if failed:
            status, program = failed.groups()
            text = f"`{program.strip(chr(39))}` " + (f"exited {status[5:]}" if status.startswith("exit") else status)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def detail(log: Path, exc: BaseException, tb: bool = False) -> None:
    """Append the whole error (with traceback if tb) to the demo's own log."""
    with open(log, "a") as out:
        out.write(f"\n--- {time.strftime('%F %T')} {type(exc).__name__} ---\n")
        out.write("".join(traceback.format_exception(exc)) if tb else f"{exc}\n")


@contextmanager
def output_to(log_path: Path) -> Iterator[None]:
    """Send this process's (and its children's) stdout and stderr to log_path for the block."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "ab") as quiet:
        os.dup2(quiet.fileno(), 1)
        os.dup2(quiet.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def timeout_scale() -> float:
    """LVMOVE_DEMO_TIMEOUT_SCALE: a factor on the guests' time limits (2 on a slow host)."""
    try:
        scale = float(os.environ.get("LVMOVE_DEMO_TIMEOUT_SCALE", "1"))
    except ValueError:
        return 1.0
    return scale if scale > 0 else 1.0


def guest_failure(step: str, run: Run, exc: GuestError) -> StepFailed:
    """A guest step's GuestError as what failed / which log / what to do."""
    guest = run.guest
    reason = one_line(exc)
    if reason.startswith("qemu exited"):
        return StepFailed(f"{step}: {reason}", guest.workdir / f"qemu.{guest.boots}.log",
                          f"qemu could not run the guest: read the log's last lines, {AGAIN}")
    if " within " in reason:
        scale = max(2.0, timeout_scale() * 2)
        return StepFailed(f"{step}: {reason}", guest.console(),
                          "the guest runs in software emulation (no KVM) and was too slow on this host: "
                          f"LVMOVE_DEMO_TIMEOUT_SCALE={scale:g} ./demo.sh gives it {scale:g}x the time")
    return StepFailed(f"{step}: {reason}", run.out / f"phase{guest.boots}.log",
                      f"the log shows the guest command that failed (console: {guest.console()}); "
                      f"report it with {run.out}")


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


def build_image(work: Path) -> Image:
    log_path = work / "image-build.log"
    say(
        "building (or reusing) the Debian 12 guest image: a few minutes the first time, cached in "
        f"{cache_root()} afterwards (its output goes to {log_path})"
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_bytes(b"")
    try:
        with output_to(log_path):
            image = build()
    except HostCommandError as exc:
        detail(log_path, exc)
        missing = missing_host_tools()
        if missing:
            fix = f"apt-get install {' '.join(missing_packages(missing))}, {AGAIN}"
        else:
            fix = (
                "read the log's last lines; the build needs a Debian archive in /etc/apt/sources.list or "
                f"/etc/apt/sources.list.d/ and ~3 GB free in {cache_root()}, {AGAIN} (a finished image is cached)"
            )
        what = f"missing host tools: {' '.join(missing)}" if missing else one_line(exc)
        raise StepFailed(f"building the guest image: {what}", log_path, fix) from exc
    return image


def missing_packages(tools: list[str]) -> list[str]:
    """The Debian packages that ship the missing host tools."""
    package = {"mmdebstrap": "mmdebstrap", "mkfs.ext4": "e2fsprogs", "qemu-img": "qemu-utils",
               "qemu-system-x86_64": "qemu-system-x86"}
    assert set(package) == set(HOST_TOOLS)
    return sorted({package[tool] for tool in tools})


def build_payload(work: Path) -> Path:
    log_path = work / "make-deb.log"
    say(f"building the lvmove .deb that the guest installs (make deb; its output goes to {log_path})")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_bytes(b"")
    try:
        with output_to(log_path):
            return prepare_payload(work / "payload-demo")
    except HostCommandError as exc:
        detail(log_path, exc)
        raise StepFailed(
            f"building the lvmove .deb: {one_line(exc)}",
            log_path,
            "read the log's last lines (\"Unmet build dependencies\": ./demo.sh installs packaging/debian/control's "
            f"Build-Depends, so run it again; anything else: `make deb` must pass on this host), {AGAIN}",
        ) from exc


def demo(work: Path) -> int:
    started = time.monotonic()
    image = build_image(work)
    payload = build_payload(work)
    run = new_run(
        "crash",
        image,
        bus="scsi",
        pv_count=2,
        payload=payload,
        tag="demo",
        env={"CRASH_AT": "40", "CAPTURE_NAME": "demo", "LVMCONF_SET": "global/use_lvmpolld=0"},
    )
    scale = timeout_scale()
    stop = threading.Event()
    tail = threading.Thread(target=follow, args=(run.out, stop), daemon=True)
    tail.start()
    step = "boot 1 (move, then crash)"
    try:
        say(
            "boot 1: install lvmove, set use_lvmpolld=0 (stock LVM 2.03.16 then leaves an interrupted move "
            "stuck after a reboot), make a VG with two LVs on pv1, write random data, `pvmove pv1 pv2` "
            "(throttled to 2 MiB/s), then crash the VM at 40 % (SIGKILL qemu)"
        )
        run.crash_phase(1, timeout=420 * scale)
        say("CRASH: qemu killed mid-move. Booting again on the same disks; nothing is done by hand from here")
        step = "boot 2 (lvmove finishes the move)"
        run.guest.boot_bps = 2 * 1024 * 1024
        run.final_phase(2, timeout=900 * scale)
    except GuestError as exc:
        raise guest_failure(step, run, exc) from exc
    except HostCommandError as exc:
        raise StepFailed(f"{step}: {one_line(exc)}", run.guest.console(),
                         f"a host command failed: read the log's last lines, {AGAIN}") from exc
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
    problems = [*checks.failed, *([] if checks.passed("pvmove-finished") else ["MISSING pvmove-finished"])]
    problems += [] if same else ["data checksums DIFFERENT"]
    if problems:
        raise StepFailed(f"verdict: {'; '.join(problems)}", run.out / "phase2.log",
                         f"lvmove did not finish the move cleanly: report it with the guest logs in {run.out}")
    print(f"  demo PASSED in {time.monotonic() - started:.0f} s (guest logs: {run.out})")
    return 0


def main() -> int:
    work = work_root()
    work.mkdir(parents=True, exist_ok=True)
    own_log = work / "demo.log"
    own_log.write_text("")
    to_file = logging.FileHandler(own_log)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    vm_log = logging.getLogger("lvmove.vm")
    vm_log.setLevel(logging.INFO)
    vm_log.addHandler(to_file)
    vm_log.propagate = False  # INFO goes to demo.log only; the terminal gets warnings and the demo's own lines
    to_terminal = logging.StreamHandler(sys.stderr)
    to_terminal.setLevel(logging.WARNING)
    to_terminal.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    vm_log.addHandler(to_terminal)
    try:
        return demo(work)
    except StepFailed as failed:
        detail(own_log, failed.__cause__ or failed)
        print(f"\ndemo FAILED: {failed.what}; log: {failed.log}; fix: {failed.fix}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print(f"\ndemo interrupted; the image cache in {cache_root()} is kept: run ./demo.sh again", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug in the demo itself: still one line, the traceback goes to the log
        detail(own_log, exc, tb=True)
        print(
            f"\ndemo FAILED: unexpected {type(exc).__name__}: {one_line(exc)}; log: {own_log} (traceback); "
            "fix: this is a bug in the demo, report it with that log",
            file=sys.stderr,
            flush=True,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
