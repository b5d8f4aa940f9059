"""systemctl: start lvmove units and read their state (through the runner)."""

from __future__ import annotations

import shutil

from lvmove_hooks import runner
from lvmove_hooks.errors import CommandFailed
from lvmove_hooks.names import UNIT_PREFIX

SYSTEMCTL = "systemctl"


def start(unit: str) -> None:
    result = runner.run([SYSTEMCTL, "--no-block", "start", unit], check=False)
    if not result.ok:
        raise CommandFailed(f"could not start {unit}: {result.summary()}",
                            hint="is systemd running? 'lvmove run VG/LV' carries the move in this shell")


STOP_TIMEOUT = 330.0  # the unit's TimeoutStopSec (5 min) and a margin: lvmove stops LVM's poller in its sleep


def stop(unit: str) -> None:
    """`systemctl stop`, waiting until lvmove has let go of the move (it never kills LVM mid-commit)."""
    result = runner.run([SYSTEMCTL, "stop", unit], check=False, timeout=STOP_TIMEOUT)
    if not result.ok:
        raise CommandFailed(f"could not stop {unit}: {result.summary()}", hint=f"see 'systemctl status {unit}'")


def show(unit: str, props: tuple[str, ...]) -> dict[str, str]:
    """Properties of one unit (empty when systemctl cannot be asked)."""
    result = runner.run([SYSTEMCTL, "show", f"--property={','.join(props)}", unit], check=False)
    if not result.ok:
        return {}
    return dict(line.partition("=")[::2] for line in result.stdout.splitlines() if "=" in line)


def states(pattern: str = f"{UNIT_PREFIX}*.service") -> dict[str, dict[str, str]] | None:
    """ActiveState/SubState/StatusText of every loaded unit matching the glob pattern (a unit that is not
    loaded is inactive); None when systemctl is absent or fails. One call whatever the number of moves, and
    it needs no list of moves first, so `lvmove status` runs it beside its LVM report."""
    if shutil.which(SYSTEMCTL, path=runner.command_env()["PATH"]) is None:
        return None
    result = runner.run([SYSTEMCTL, "show", "--property=Id,ActiveState,SubState,StatusText", pattern], check=False)
    if not result.ok:
        return None
    found: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in [*result.stdout.splitlines(), ""]:
        if not line.strip():
            if current.get("Id"):
                found[current["Id"]] = current
            current = {}
            continue
        key, _, value = line.partition("=")
        current[key] = value
    return found
