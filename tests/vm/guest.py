"""Boot, drive, crash and reboot a qemu (TCG) guest on persistent disk files.

One `Guest` is one machine: a qcow2 overlay on the cached root image, N raw PV files, a 9p share
(scripts in, results out), a QMP socket and the serial console in a file. `boot()` starts qemu on those
files; booting again after `kill()` is the "reboot after a crash". Every wait is bounded.

Guest scripts talk back through console markers `LVMOVE-VM: ...`; a marker `REQ <n> <verb> <args>` asks the
host to do something (e.g. `throttle 2097152`) and waits for the file `ack/<n>` in the share.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .hostcmd import HostCommandError, run, spawn
from .image import Image

log = logging.getLogger("lvmove.vm")

MARK = "LVMOVE-VM: "
MARK_RE = re.compile(r"LVMOVE-VM: (.*)")
BUSES = ("scsi", "blk")


class GuestError(AssertionError):
    """The guest did not do what the scenario expected (timeout, early exit, runner error)."""


@dataclass
class Guest:
    image: Image
    workdir: Path
    pv_count: int = 2
    absent: set[int] = field(default_factory=set)  # PV disks left out at the next boot (their drive stays, unplugged)
    pv_size_mib: int = 96
    bus: str = "scsi"
    memory_mib: int = 1024
    boot_bps: int = 0
    proc: subprocess.Popen[bytes] | None = None
    boots: int = 0
    console_offset: int = 0
    handled: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.bus not in BUSES:
            raise ValueError(f"bus must be one of {BUSES}, not {self.bus!r}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.share.mkdir(exist_ok=True)
        (self.share / "ack").mkdir(exist_ok=True)
        (self.share / "out").mkdir(exist_ok=True)

    # paths -----------------------------------------------------------------------------------------
    @property
    def share(self) -> Path:
        return self.workdir / "share"

    @property
    def overlay(self) -> Path:
        return self.workdir / "root.qcow2"

    @property
    def qmp_path(self) -> Path:
        return self.workdir / "qmp.sock"

    def console(self, boot: int | None = None) -> Path:
        return self.workdir / f"console.{self.boots if boot is None else boot}.log"

    def pv_path(self, index: int) -> Path:
        return self.workdir / f"pv{index}.raw"

    @property
    def initrd(self) -> Path:
        """The initramfs to boot: the image's, or one the guest rebuilt and left in the share as boot/initrd.img
        (upstream LVM laid over the guest's, for PVs the initramfs sees: scenarios/lib.sh `lvm_overlay`)."""
        rebuilt = self.share / "boot" / "initrd.img"
        return rebuilt if rebuilt.is_file() else self.image.initrd

    # disks -----------------------------------------------------------------------------------------
    def prepare_disks(self) -> None:
        """Create the root overlay and the PV files once; later boots reuse them (a reboot)."""
        if not self.overlay.exists():
            run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", self.image.root, self.overlay])
        for i in range(1, self.pv_count + 1):
            path = self.pv_path(i)
            if not path.exists():
                with open(path, "wb") as f:
                    f.truncate(self.pv_size_mib * 1024 * 1024)

    # qemu ------------------------------------------------------------------------------------------
    def qemu_argv(self, append: str) -> list[str]:
        argv: list[str] = [
            "qemu-system-x86_64",
            "-accel",
            "tcg,thread=multi",
            "-cpu",
            "max",
            "-m",
            str(self.memory_mib),
            "-smp",
            "2",
            "-nodefaults",
            "-display",
            "none",
            "-no-reboot",
            "-kernel",
            str(self.image.kernel),
            "-initrd",
            str(self.initrd),
            "-append",
            append,
            "-drive",
            f"if=none,id=drvroot,file={self.overlay},format=qcow2",
            "-device",
            "virtio-blk-pci,drive=drvroot,id=root",
            "-virtfs",
            f"local,path={self.share},mount_tag=share,security_model=none,id=share",
            "-qmp",
            f"unix:{self.qmp_path},server=on,wait=off",
            "-serial",
            f"file:{self.console()}",
            "-device",
            "virtio-rng-pci",
        ]
        if self.bus == "scsi":
            argv += ["-device", "virtio-scsi-pci,id=scsi0"]
        for i in range(1, self.pv_count + 1):
            throttle = f",throttling.bps-total={self.boot_bps}" if self.boot_bps else ""
            argv += ["-drive", f"if=none,id=drvpv{i},file={self.pv_path(i)},format=raw,aio=threads{throttle}"]
            if i in self.absent:
                continue  # the disk is "pulled": `REQ n attach i` plugs it in (device_add)
            argv += ["-device", ",".join(f"{k}={v}" if v else k for k, v in self.pv_device(i).items())]
        return argv

    def pv_device(self, i: int) -> dict[str, str]:
        """qemu's device for PV disk i, as -device options or device_add arguments (first key: the driver)."""
        if self.bus == "scsi":
            return {"scsi-hd": "", "bus": "scsi0.0", "drive": f"drvpv{i}", "id": f"pv{i}", "serial": f"pv{i}"}
        return {"virtio-blk-pci": "", "drive": f"drvpv{i}", "id": f"pv{i}", "serial": f"pv{i}"}

    def attach(self, i: int) -> None:
        """Plug PV disk i in while the guest runs (hot-add through QMP)."""
        options = self.pv_device(i)
        driver = next(iter(options))
        self.qmp("device_add", {"driver": driver, **{k: v for k, v in options.items() if k != driver}})
        self.absent.discard(i)

    def boot(self, script: str, phase: int, extra_append: str = "") -> None:
        """Start qemu on this machine's disks, running `script` (relative to the share) as `phase`."""
        if self.running():
            raise GuestError("boot() while the previous qemu still runs")
        self.prepare_disks()
        self.boots += 1
        self.console_offset = 0
        self.handled.clear()
        self.qmp_path.unlink(missing_ok=True)
        (self.share / "boot-number").write_text(f"{self.boots}\n")
        if self.initrd != self.image.initrd:
            log.info("boot %d with the initramfs the guest rebuilt: %s", self.boots, self.initrd)
        append = (
            "root=LABEL=vmroot rw console=ttyS0,115200 loglevel=4 systemd.show_status=0 panic=1 "
            f"lvmove.script={script} lvmove.phase={phase} {extra_append}"
        ).strip()
        self.proc = spawn(self.qemu_argv(append), stdout_path=self.workdir / f"qemu.{self.boots}.log")

    def panicked_before_runner(self) -> str:
        """The kernel's panic line when this boot's kernel panicked before the runner started, else ""."""
        path = self.console()
        return panic_before_runner(path.read_text(errors="replace") if path.exists() else "")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """Crash: SIGKILL qemu (the guest gets no chance to flush or shut down)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            log.info("crash: SIGKILL qemu pid %d", self.proc.pid)
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def wait_exit(self, timeout: float) -> int:
        """Wait for qemu to exit by itself (guest powered off); kill it and fail after timeout."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise GuestError(f"guest did not power off within {timeout:.0f}s\n{self.console_tail()}") from None

    # console and markers ---------------------------------------------------------------------------
    def console_tail(self, lines: int = 40) -> str:
        path = self.console()
        if not path.exists():
            return "(no console output)"
        text = path.read_text(errors="replace").splitlines()[-lines:]
        return "--- console tail ---\n" + "\n".join(text)

    def new_markers(self) -> list[str]:
        path = self.console()
        if not path.exists():
            return []
        with open(path, "rb") as f:
            f.seek(self.console_offset)
            data = f.read()
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.console_offset += end + 1
        return [m.group(1).strip() for m in MARK_RE.finditer(data[: end + 1].decode(errors="replace"))]

    def drive(self, until: str, timeout: float, on_marker: Callable[[str], None] | None = None) -> str:
        """Follow the console, serving REQ markers, until a marker starting with `until` appears."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for marker in self.new_markers():
                log.info("guest[%d]: %s", self.boots, marker)
                if on_marker is not None:
                    on_marker(marker)
                if marker.startswith("REQ "):
                    self.serve(marker)
                elif marker.startswith(until):
                    return marker
                elif marker.startswith("RUNNER-ERROR") or (
                    marker.startswith("RUNNER-END") and not until.startswith("RUNNER-END")
                ):
                    raise GuestError(f"guest ended before {until!r}: {marker}\n{self.phase_log_tail()}")
            if not self.running():
                raise GuestError(f"qemu exited before {until!r}\n{self.console_tail()}")
            time.sleep(0.2)
        raise GuestError(f"no {until!r} within {timeout:.0f}s\n{self.phase_log_tail()}\n{self.console_tail()}")

    def phase_log_tail(self, lines: int = 45) -> str:
        logs = sorted((self.share / "out").glob("phase*.log"))
        if not logs:
            return "(no phase log)"
        text = logs[-1].read_text(errors="replace").splitlines()[-lines:]
        return f"--- {logs[-1].name} tail ---\n" + "\n".join(text)

    def serve(self, marker: str) -> None:
        """Handle `REQ <n> <verb> <args...>` from the guest and acknowledge it."""
        parts = marker.split()
        if len(parts) < 3 or marker in self.handled:
            return
        self.handled.add(marker)
        n, verb, args = parts[1], parts[2], parts[3:]
        if verb == "throttle":
            self.throttle(int(args[0]))
            answer = "ok"
        elif verb == "attach":
            self.attach(int(args[0]))
            answer = "ok"
        else:
            answer = f"unknown request {verb}"
        (self.share / "ack" / f"{self.boots}-{n}").write_text(answer + "\n")

    # QMP -------------------------------------------------------------------------------------------
    def qmp(self, command: str, arguments: dict[str, Any] | None = None, timeout: float = 20.0) -> Any:
        """One QMP command on a fresh connection; returns its "return" value."""
        log.info("qmp %s %s", command, json.dumps(arguments or {}))
        deadline = time.monotonic() + timeout
        while not self.qmp_path.exists():
            if time.monotonic() > deadline:
                raise GuestError(f"no QMP socket {self.qmp_path}")
            time.sleep(0.1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.qmp_path))
            stream = sock.makefile("rw")
            json.loads(stream.readline())  # greeting
            for cmd, args in (("qmp_capabilities", None), (command, arguments)):
                msg: dict[str, Any] = {"execute": cmd}
                if args:
                    msg["arguments"] = args
                stream.write(json.dumps(msg) + "\n")
                stream.flush()
                while True:
                    reply = json.loads(stream.readline())
                    if "event" not in reply:
                        break
                if "error" in reply:
                    raise GuestError(f"QMP {cmd} failed: {reply['error']}")
            return reply.get("return")

    def throttle(self, bps: int) -> None:
        """Set the total bandwidth limit of every PV disk (0 = unlimited) at run time."""
        for i in range(1, self.pv_count + 1):
            if i in self.absent:
                continue
            qdev = f"/machine/peripheral/pv{i}/virtio-backend" if self.bus == "blk" else f"pv{i}"
            limits = dict.fromkeys(("bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr"), 0)
            self.qmp("block_set_io_throttle", {"id": qdev, "bps": bps, **limits})

    # cleanup ---------------------------------------------------------------------------------------
    def close(self, keep: bool = False) -> None:
        """Stop qemu if still running; remove the big disk files unless keep."""
        if self.running():
            self.kill()
        if not keep:
            for path in [self.overlay, *(self.pv_path(i) for i in range(1, self.pv_count + 1))]:
                path.unlink(missing_ok=True)


def copy_into_share(guest: Guest, files: dict[str, Path]) -> None:
    """Copy host files into the guest's share under the given names."""
    for name, src in files.items():
        dst = guest.share / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)


__all__ = ["Guest", "GuestError", "HostCommandError", "copy_into_share"]


def panic_before_runner(console: str) -> str:
    """From a boot's serial console: the kernel's Oops and RIP lines (or "Kernel panic") when it panicked
    before the runner said RUNNER-START, else ""."""
    if "RUNNER-START" in console or "Kernel panic" not in console:
        return ""
    oops = [line.split("] ", 1)[-1].strip() for line in console.splitlines() if "Oops:" in line or "RIP:" in line]
    return "; ".join(oops[:2]) or "Kernel panic"
