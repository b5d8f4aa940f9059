"""lvmove@.service's sandbox: systemd's own exposure score, what LVM needs from it, and the man page's account
of it; `udevadm verify` on the rule where udevadm has it (systemd >= 253)."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "units" / "lvmove@.service"
RULE = ROOT / "udev-rules" / "96-lvmove.rules"
MAN = ROOT / "docs" / "man" / "lvmove@.service.8"
MAX_EXPOSURE = 5.0
# Another udevadm for the verify test (e.g. a newer one run in a chroot): a command line.
UDEVADM = shlex.split(os.environ.get("LVMOVE_TEST_UDEVADM", "udevadm"))

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


def service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def words(key: str) -> list[str]:
    return service().get(key, "").replace("\\\n", " ").replace("\\", " ").split()


def man_section(name: str) -> str:
    """A section of lvmove@.service(8) as plain text (roff requests and escapes dropped)."""
    text = MAN.read_text()
    start = text.index(f".SH {name}\n")
    body = text[start:text.index("\n.SH ", start + 1)]
    body = re.sub(r"^\.\w+ ?", "", body, flags=re.M)
    return body.replace("\\%", "").replace("\\-", "-").replace("\\(aq", "'")


@cache
def analyze_security(unit_text: str) -> subprocess.CompletedProcess[str] | None:
    """`systemd-analyze security --offline=yes` on a copy of the unit; None where systemd lacks --offline
    (before 250)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lvmove@.service"
        path.write_text(unit_text)
        result = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", str(path)],
                                capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0 and re.search(r"unrecognized option|unknown option", result.stderr):
            return None
        return result


def overall(result: subprocess.CompletedProcess[str]) -> float:
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert found, result.stdout + result.stderr
    return float(found.group(1))


def exposed_items(unit_text: str) -> dict[str, str]:
    """Name -> exposure of every check that stays open (systemd-analyze's --json=short, 251 and later)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lvmove@.service"
        path.write_text(unit_text)
        result = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--json=short", str(path)],
                                capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        pytest.skip(f"systemd-analyze security --json unavailable: {result.stderr.strip()}")
    return {item["name"]: item["exposure"] for item in json.loads(result.stdout)
            if not item["set"] and item["exposure"] not in (None, "0.0")}


@needs_analyze
def test_exposure_is_at_most_5() -> None:
    result = analyze_security(UNIT.read_text())
    if result is None:
        pytest.skip("systemd-analyze security has no --offline (systemd < 250)")
    score = overall(result)
    assert score <= MAX_EXPOSURE, result.stdout
    # Without the sandbox the same unit scores far worse: the number measures this file, not a default.
    bare = re.sub(r"^(ProtectSystem|CapabilityBoundingSet|SystemCallFilter|ProtectKernelTunables|PrivateMounts|"
                  r"MemoryDenyWriteExecute|IPAddressDeny)=.*(\n\s+.*)*$", "", UNIT.read_text(), flags=re.M)
    unsandboxed = analyze_security(bare)
    assert unsandboxed is not None and overall(unsandboxed) > score + 1.5


@needs_analyze
def test_man_page_gives_the_score_and_a_reason_for_every_exposed_item() -> None:
    result = analyze_security(UNIT.read_text())
    if result is None:
        pytest.skip("systemd-analyze security has no --offline (systemd < 250)")
    text = " ".join(man_section("SECURITY").split())
    stated = re.search(r"rates it (\d+\.\d) \(\w+\) with systemd (\d+)", text)
    assert stated, "SECURITY must say the score and the systemd version it was measured with"
    version = subprocess.run(["systemd-analyze", "--version"], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    comment = re.search(r"^# Hardening.*`systemd-analyze security lvmove@.service`: (\d+\.\d)", UNIT.read_text(), re.M)
    assert comment and comment.group(1) == stated.group(1), "the unit's comment and the man page disagree"
    if version == stated.group(2):
        assert float(stated.group(1)) == overall(result), f"lvmove@.service(8) says {stated.group(1)}"
    exposed = exposed_items(UNIT.read_text())
    reasons = text[text.index("What stays exposed"):]
    missing = [name for name in exposed if name not in reasons]
    assert not missing, f"exposed but not explained in SECURITY of lvmove@.service(8): {missing}"
    # ... and what the page lists as set, the unit sets.
    restrictions = text[text.index("The restrictions:"):text.index("What stays exposed")]
    keys = set(re.findall(r"\b([A-Z][A-Za-z]+)=", restrictions))
    assert keys and keys <= set(service()), sorted(keys - set(service()))


def test_sandbox_leaves_lvm_what_it_needs() -> None:
    svc = service()
    # Namespaces and filters that break LVM: /dev, SysV IPC (udev cookies), uevents, modprobe, other processes.
    for key in ("PrivateDevices", "DevicePolicy", "DeviceAllow", "PrivateIPC", "PrivateNetwork",
                "ProtectKernelModules", "ProtectProc", "ProcSubset", "PrivateUsers", "User", "DynamicUser"):
        assert key not in svc, key
    writable = words("ReadWritePaths")
    assert {"/etc/lvm", "/run"} <= set(writable)
    assert {"-/var/lib/lvmove", "-/var/lib/prometheus/node-exporter"} <= set(writable)  # may be missing
    caps = set(words("CapabilityBoundingSet"))
    assert {"CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_MKNOD", "CAP_IPC_LOCK", "CAP_SYS_PTRACE", "CAP_KILL",
            "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_CHOWN", "CAP_SYS_NICE", "CAP_SYS_RESOURCE"} <= caps
    assert not caps & {"CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_NET_ADMIN", "CAP_SYS_BOOT", "CAP_BPF"}
    assert set(words("RestrictAddressFamilies")) == {"AF_UNIX", "AF_NETLINK"}
    # A filtered call must fail, not kill an LVM command between its two metadata commits (SIGSYS).
    assert svc["SystemCallErrorNumber"] == "EPERM"


@needs_analyze
def test_system_call_filter_allows_what_lvm_calls() -> None:
    """Expand the filter with systemd's own tables; the calls LVM, libdm, kmod and lvmove make stay allowed."""

    def expand(group: str, seen: set[str]) -> set[str]:
        out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", group], capture_output=True,
                             text=True, check=True).stdout
        names: set[str] = set()
        for token in out.split():
            if token.startswith("#") or token == group:
                continue
            if token.startswith("@"):
                if token not in seen:
                    seen.add(token)
                    names |= expand(token, seen)
            elif re.fullmatch(r"[a-z_0-9]+", token):
                names.add(token)
        return names

    allowed: set[str] = set()
    for group in words("SystemCallFilter"):
        allowed |= expand(group, {group}) if group.startswith("@") else {group}
    needed = {
        "ioctl",  # DM ioctls, BLKRASET, BLKFLSBUF
        "mknod", "mknodat", "chown", "fchownat",  # libdm's device nodes
        "mlock", "mlockall", "munlockall",  # LVM's memory locking in critical sections
        "semget", "semop", "semctl", "semtimedop",  # udev cookies
        "setpriority", "getpriority",  # LVM raises its priority
        "init_module", "finit_module",  # modprobe dm-mirror
        "io_setup", "io_submit", "io_getevents",  # LVM's libaio scanning
        "kill", "socket", "flock", "execve", "clone", "wait4", "personality",
    }
    assert not needed - allowed, sorted(needed - allowed)
    assert not {"mount", "reboot", "swapon", "ptrace", "kexec_load"} & allowed


def _udevadm_verify() -> bool:
    try:
        return subprocess.run([*UDEVADM, "verify", "--help"], capture_output=True, timeout=30,
                              check=False).returncode == 0
    except OSError:
        return False


@pytest.mark.skipif(not _udevadm_verify(), reason="udevadm has no verify (systemd < 253)")
def test_udevadm_verify_is_clean(tmp_path: Path) -> None:
    rule = tmp_path / RULE.name
    shutil.copy(RULE, rule)
    result = subprocess.run([*UDEVADM, "verify", str(rule)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Fail:    0" in result.stdout or "Fail: 0" in " ".join(result.stdout.split()), result.stdout
    # The check is real: the same rule with a label it jumps to removed fails it.
    broken = tmp_path / "97-broken.rules"
    broken.write_text(RULE.read_text().replace('LABEL="lvmove_end"', ""))
    result = subprocess.run([*UDEVADM, "verify", str(broken)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode != 0, result.stdout + result.stderr
