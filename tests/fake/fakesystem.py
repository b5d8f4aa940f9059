"""The fake LVM world seen from a test: build state, inspect it, run lvmove against it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakelvm

REPO = Path(__file__).resolve().parent.parent.parent
FAKE_DIR = REPO / "tests" / "fake"
FAKE_BIN = FAKE_DIR / "bin"

TIMESCALE = 0.05  # real seconds per simulated second: `lvpoll --interval 1` sleeps 50 ms
# lvpoll sleeps 60 simulated seconds (3 s): much longer than lvmove's kernel-watch tick, as in real use.
DEFAULT_CONFIG = "poll_interval: 60\nprogress_interval: 1\n"
# LVM's interval polling, fast: lvpoll --interval 1 (50 ms).
INTERVAL_CONFIG = "watch_kernel: false\npoll_interval: 1\nprogress_interval: 1\n"
PVS = {"/dev/sda": "8:0", "/dev/sdb": "8:16", "/dev/sdc": "8:32"}


class FakeSystem:
    """Builds and inspects the fake world; runs lvmove against it."""

    def __init__(self, root: Path, lvm_version: str = fakelvm.VERSIONS[0]) -> None:
        if lvm_version not in fakelvm.VERSIONS:
            raise ValueError(f"fake LVM plays {', '.join(fakelvm.VERSIONS)}, not {lvm_version}")
        self.root = root
        self.lvm_version = lvm_version
        self.state_path = root / "state.json"
        self.proc = root / "proc"
        self.rundir = root / "run"
        self.config_path = root / "lvmove.yaml"
        self.proc.mkdir()
        self.spawned: list[subprocess.Popen[str]] = []
        self.sysfs = root / "sys"
        fakelvm.save(fakelvm.empty_state() | {"sysfs": str(self.sysfs)}, self.state_path)
        self.config_path.write_text(DEFAULT_CONFIG, encoding="utf-8")
        self.env = {
            "PATH": f"{FAKE_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "PYTHONPATH": str(REPO),
            "LVMOVE_FAKE_STATE": str(self.state_path),
            "LVMOVE_FAKE_TIMESCALE": str(TIMESCALE),
            "LVMOVE_RUNDIR": str(self.rundir),
            "LVMOVE_STATEDIR": str(root / "var-lib-lvmove"),
            "LVMOVE_METRICS_DIR": str(root / "metrics"),  # never the host's node_exporter dir (absent: none)
            "LVMOVE_CONFIG": str(self.config_path),
            "LVMOVE_PROC": str(self.proc),
            "LVMOVE_SYSFS": str(self.sysfs),
            "LVMOVE_ALLOW_NONROOT": "1",
            "LC_ALL": "C",
            "LVMOVE_NO_IOCTL": "1",  # never read the host's real device-mapper devices
            "LVMOVE_FAKE_LVM_VERSION": lvm_version,
        }

    # ---- the fake clock ----
    def freeze_clock(self) -> None:
        """From now on the kernel simulation copies only when the test advances the clock (see fakelvm.now)."""
        clock = self.root / "clock"
        clock.write_text(json.dumps({"frozen": fakelvm.now()}), encoding="utf-8")
        self.env[fakelvm.CLOCK_ENV] = str(clock)
        os.environ[fakelvm.CLOCK_ENV] = str(clock)  # this process's own fakelvm calls (set_move, copied_pe)

    def advance(self, simulated_seconds: float) -> None:
        clock = self.root / "clock"
        frozen = json.loads(clock.read_text())["frozen"]
        clock.write_text(json.dumps({"frozen": frozen + simulated_seconds * TIMESCALE}), encoding="utf-8")

    def run_clock(self) -> None:
        """Let the fake clock run again from where the test left it."""
        clock = self.root / "clock"
        frozen = json.loads(clock.read_text())["frozen"]
        clock.write_text(json.dumps({"offset": frozen - time.time()}), encoding="utf-8")

    # ---- building state ----
    @contextlib.contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        with fakelvm.locked(self.state_path) as state:
            yield state

    def vg(self, name: str = "vg", pvs: dict[str, str] | None = None, extent_mib: int = 4) -> None:
        with self.edit() as state:
            fakelvm.add_vg(state, name, pvs or PVS, extent_mib)

    def lv(self, vg: str, name: str, segments: list[tuple[str, int, int]], active: bool = True) -> None:
        with self.edit() as state:
            fakelvm.add_lv(state, vg, name, segments, active=active)

    def move(self, vg: str = "vg", source: str = "/dev/sda", dests: list[str] | None = None, **kw: Any) -> str:
        """An in-flight move (see fakelvm.create_move for the keywords); returns the pvmove LV's UUID."""
        fixed = kw.pop("fixed_pe", None)
        health = kw.pop("health", None)
        dm = kw.pop("dm", None)
        with self.edit() as state:
            move = fakelvm.create_move(state, vg, source, dests, **kw)
            move["fixed_pe"] = fixed
            if health:
                fakelvm.set_health(move, health)
            if dm:
                move["dm"] = dm
            return str(move["uuid"])

    def standard(self, vg: str = "vg", **kw: Any) -> str:
        """VG with /dev/sda,b,c; LV `data` (two pieces on sda, one on sdc) and `logs` (on sda); a move
        /dev/sda -> /dev/sdb of three segments: data(0-3), data(8-11), logs(4-7)."""
        self.vg(vg)
        self.lv(vg, "data", [("/dev/sda", 0, 4), ("/dev/sdc", 0, 2), ("/dev/sda", 8, 4)])
        self.lv(vg, "logs", [("/dev/sda", 4, 4)])
        return self.move(vg, "/dev/sda", ["/dev/sdb"], **kw)

    def orphan(self, vg: str = "vg", name: str = "pvmove0") -> None:
        """The `error` LV an interrupted finish leaves (hidden on 2.03.16, visible from 2.03.31 on)."""
        with self.edit() as state:
            fakelvm.add_orphan(state, vg, name)

    def set_move(self, vg: str = "vg", name: str = "pvmove0", **values: Any) -> None:
        with self.edit() as state:
            move = fakelvm.find_lv(state, vg, name)
            assert move is not None, f"no {vg}/{name}"
            if "health" in values:
                fakelvm.set_health(move, values.pop("health"))
            if "rate_pe" in values:  # keep what the kernel copied so far
                copied = fakelvm.copied_pe(move)
                move["copy_since"] = fakelvm.now() - (copied / values["rate_pe"] * TIMESCALE if values["rate_pe"]
                                                    else 0)
            move.update(values)

    def pull_disk(self, path: str, vg: str = "vg") -> str:
        """The disk of PV `path` is gone (LVM warns, shows it as [unknown]); returns its PV UUID."""
        with self.edit() as state:
            uuid = fakelvm.new_uuid(state)
            state["vgs"][vg].setdefault("missing", {})[path] = uuid
        return uuid

    def return_disk(self, path: str, vg: str = "vg") -> None:
        with self.edit() as state:
            state["vgs"][vg].get("missing", {}).pop(path, None)

    def deactivate(self, vg: str = "vg") -> None:
        """What `vgchange -an VG` leaves: every LV (pvmove0 too) inactive, no dm devices."""
        with self.edit() as state:
            fakelvm.deactivate_vg(state, vg)

    def unit(self, unit: str, **props: str) -> None:
        with self.edit() as state:
            state["units"][unit] = props

    def config(self, text: str) -> None:
        self.config_path.write_text(text, encoding="utf-8")

    # ---- inspecting ----
    def state(self) -> dict[str, Any]:
        return fakelvm.load(self.state_path)

    def lv_state(self, vg: str, name: str) -> dict[str, Any] | None:
        found = fakelvm.find_lv(self.state(), vg, name)
        return None if found is None else dict(found)

    def devices_of(self, vg: str, name: str) -> list[str]:
        lv = self.lv_state(vg, name)
        assert lv is not None
        return [seg["devices"][0][0] for seg in lv["segments"]]

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.state()["events"] if kind is None or e["event"] == kind]

    def commands(self) -> list[dict[str, Any]]:
        path = self.state_path.with_name("commands.log")
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    def argvs(self, *prefix: str) -> list[list[str]]:
        """Logged argv lists starting with `prefix` (e.g. "lvm", "lvpoll")."""
        return [c["argv"] for c in self.commands() if c["argv"][: len(prefix)] == list(prefix)]

    def running_lvm(self) -> list[list[str]]:
        """argv of the fake LVM commands (lvpoll, pvmove) that run now, as the fake /proc shows them."""
        found = []
        for entry in self.proc.iterdir():
            syscall = entry / "syscall"
            if syscall.is_symlink() and syscall.exists():
                with contextlib.suppress(OSError):
                    found.append([a.decode() for a in (entry / "cmdline").read_bytes().split(b"\0") if a])
        return found

    def started_units(self) -> list[str]:
        return list(self.state()["started_units"])

    # ---- other processes ----
    def lvmpolld_poll(self, ref: str = "vg/pvmove0", interval: int = 1) -> subprocess.Popen[str]:
        """A poller that is not lvmove's child (as lvmpolld runs it); shows up in the fake /proc."""
        proc = subprocess.Popen(
            [str(FAKE_BIN / "lvm"), "lvpoll", "--polloperation", "pvmove", "--interval", str(interval), "-An", ref],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        self.spawned.append(proc)
        deadline = time.monotonic() + 10
        while not (self.proc / str(proc.pid) / "cmdline").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "fake lvpoll did not register in the fake /proc"
            time.sleep(0.01)
        return proc

    def fake_process(self, argv: list[str], pid: int = 999999) -> Path:
        """A process that exists only in the fake /proc (cmdline and a sleeping `stat`)."""
        entry = self.proc / str(pid)
        entry.mkdir()
        (entry / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
        (entry / "stat").write_text(f"{pid} ({os.path.basename(argv[0])[:15]}) S 1 1 1 0 -1", encoding="utf-8")
        return entry

    # ---- lvmove ----
    def lvmove(self, *args: str, timeout: float = 30, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run([sys.executable, "-m", "lvmove_hooks", *args], env={**self.env, **(env or {})},
                                  cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:  # say everything needed to find why (a rare overrun under load)
            raise AssertionError(self._overrun_report(args, timeout, exc)) from None

    def _overrun_report(self, args: tuple[str, ...], timeout: float, exc: subprocess.TimeoutExpired) -> str:
        def text(data: bytes | str | None) -> str:
            return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")

        procs = sorted(p.name for p in self.proc.iterdir()) if self.proc.exists() else []
        return "\n".join([f"lvmove {' '.join(args)} still running after {timeout:g} s (killed)",
                          "--- its stderr:", text(exc.stderr), "--- its stdout:", text(exc.stdout),
                          "--- the fake's commands:", *(json.dumps(c) for c in self.commands()),
                          "--- the fake's events:", *(json.dumps(e) for e in self.events()),
                          f"--- the fake /proc: {procs}"])

    def lvmove_popen(self, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-m", "lvmove_hooks", *args], env=self.env, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.spawned.append(proc)
        return proc

    def wait_for(self, what: str, predicate: Any, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.02)

    def cleanup(self) -> None:
        """Kill what the test left running: lvmove processes it started and fake LVM pollers."""
        for entry in self.proc.iterdir():
            if entry.name.isdigit() and (entry / "syscall").is_symlink():
                with contextlib.suppress(OSError):
                    os.kill(int(entry.name), signal.SIGKILL)
        for proc in self.spawned:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.communicate(timeout=5)
