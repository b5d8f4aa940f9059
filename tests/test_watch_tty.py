"""`lvmove watch` in a real terminal (tmux) against the fake LVM: one redrawn line per move, then how each ended.

Needs tmux (a fast-suite dependency, tests/deps.py); skipped without it.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakesystem import REPO, FakeSystem

from lvmove_hooks.names import LvRef
from lvmove_hooks.watchview import Reading, bar, tty_line

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed (a fast-suite dependency)")

LINE = re.compile(r"^(?P<ref>\S+)\s+\[(?P<bar>[#-]+)\]\s+(?P<pct>\d+\.\d)%\s+(?P<done>\S+ \S+)/(?P<total>\S+ \S+)\s+"
                  r"(?P<rate>\S+ \S+/s|-/s)\s+ETA (?P<eta>\S+)$")


class Tmux:
    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", str(self.socket), *args], capture_output=True, text=True,
                              check=True, timeout=10).stdout

    def screen(self) -> list[str]:
        return [line.rstrip() for line in self("capture-pane", "-p", "-t", "watch").splitlines() if line.strip()]

    def wait(self, what: str, predicate: Callable[[list[str]], bool], timeout: float = 20) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            lines = self.screen()
            if predicate(lines):
                return lines
            assert time.monotonic() < deadline, f"timed out waiting for {what}; screen:\n" + "\n".join(lines)
            time.sleep(0.1)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    t = Tmux(tmp_path / "tmux.sock")
    t("new-session", "-d", "-s", "watch", "-x", "120", "-y", "20", "-c", str(REPO), "bash --norc --noprofile")
    try:
        yield t
    finally:
        subprocess.run(["tmux", "-S", str(t.socket), "kill-server"], capture_output=True, check=False, timeout=10)


def rows(lines: list[str]) -> dict[str, list[re.Match[str]]]:
    found: dict[str, list[re.Match[str]]] = {}
    for line in lines:
        m = LINE.match(line)
        if m:
            found.setdefault(m.group("ref"), []).append(m)
    return found


def test_watch_on_a_terminal_redraws_one_line_per_move(fake_system: FakeSystem, tmux: Tmux, tmp_path: Path) -> None:
    fake_system.standard(rate_pe=0.02)  # 4-extent segments: ~10 s each at the fake's time scale
    fake_system.vg("my-vg", {"/dev/sdd": "8:48", "/dev/sde": "8:64"})
    fake_system.lv("my-vg", "home", [("/dev/sdd", 0, 6)])
    fake_system.move("my-vg", "/dev/sdd", ["/dev/sde"], atomic=True, rate_pe=0.02)
    script = tmp_path / "watch.sh"
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in fake_system.env.items())
    script.write_text(f"{exports}clear\n{shlex.quote(sys.executable)} -m lvmove_hooks watch --interval 0.5\n"
                      "echo EXIT=$?\n")
    tmux("send-keys", "-t", "watch", f"bash {shlex.quote(str(script))}", "Enter")

    first = tmux.wait("a line per move", lambda s: set(rows(s)) == {"vg/pvmove0", "my-vg/pvmove0"})
    seen = rows(first)
    assert seen["vg/pvmove0"][0].group("total") == "48.0 MiB"
    assert seen["my-vg/pvmove0"][0].group("total") == "24.0 MiB"
    pct = float(seen["vg/pvmove0"][0].group("pct"))
    # Ticks later: the same two lines, redrawn with more copied, a rate and an ETA (no scrolling log).
    later = tmux.wait("progress on the same line", lambda s: bool(rows(s).get("vg/pvmove0")) and float(
        rows(s)["vg/pvmove0"][0].group("pct")) > pct + 1 and rows(s)["vg/pvmove0"][0].group("eta") != "-")
    now = rows(later)
    assert {k: len(v) for k, v in now.items()} == {"vg/pvmove0": 1, "my-vg/pvmove0": 1}, later
    assert len([line for line in later if "pvmove0" in line]) == 2, later
    assert now["vg/pvmove0"][0].group("rate").endswith("/s") and now["vg/pvmove0"][0].group("rate") != "-/s"
    assert "#" in now["my-vg/pvmove0"][0].group("bar") or float(now["my-vg/pvmove0"][0].group("pct")) < 2.5
    assert all(len(line) < 120 for line in later)

    fake_system.set_move(rate_pe=40)
    fake_system.set_move(vg="my-vg", rate_pe=40)
    fake_system.lvmpolld_poll("vg/pvmove0", interval=1)
    fake_system.lvmpolld_poll("my-vg/pvmove0", interval=1)
    end = tmux.wait("both ends and the exit code", lambda s: "EXIT=0" in s, timeout=30)
    assert end.count("vg/pvmove0: completed: 48.0 MiB moved from /dev/sda to /dev/sdb") == 1, end
    assert end.count("my-vg/pvmove0: completed: 24.0 MiB moved from /dev/sdd to /dev/sde") == 1, end
    assert rows(end) == {}, "a progress line was left behind:\n" + "\n".join(end)
    at = end.index("EXIT=0")
    assert [line.split(":")[0] for line in end[at - 2:at]] == ["my-vg/pvmove0", "vg/pvmove0"]  # in place, in order


def test_tty_line_fits_the_terminal() -> None:
    r = Reading(LvRef("vg", "pvmove0"), 45.0, 48 * 1024 ** 2, 1.5 * 1024 ** 2, 19.2)
    line = tty_line(r, 80, 10)
    assert len(line) <= 79
    m = LINE.match(line)
    assert m is not None, line
    assert (m.group("pct"), m.group("done"), m.group("total"), m.group("rate"), m.group("eta")) == (
        "45.0", "21.6 MiB", "48.0 MiB", "1.5 MiB/s", "19s")
    assert bar(0.5, 10) == "[#####-----]" and bar(1.5, 4) == "[####]"
    assert len(tty_line(r, 30, 10)) <= 29
