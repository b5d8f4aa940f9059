"""The shipped udev rule and unit: what they must and must not do, and systemd's own verdict."""

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "units" / "lvmove@.service"
RULE = ROOT / "udev-rules" / "96-lvmove.rules"


def unit_sections() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_shape() -> None:
    unit = unit_sections()
    assert unit["Unit"]["DefaultDependencies"] == "no"
    assert "shutdown.target" in unit["Unit"]["Conflicts"] and "shutdown.target" in unit["Unit"]["Before"]
    conditions = [line for line in UNIT.read_text().splitlines() if line.startswith("ConditionPathExists=")]
    assert conditions == ["ConditionPathExists=!/etc/initrd-release",
                          "ConditionPathExists=!/var/lib/lvmove/paused/%i"]  # not in the initrd; lvmove pause
    assert unit["Unit"]["ConditionKernelCommandLine"] == "!lvmove.auto=0"
    svc = unit["Service"]
    assert svc["Type"] == "oneshot" and svc["RemainAfterExit"] == "no"
    assert svc["ExecStart"] == "/usr/bin/lvmove run %I"
    assert svc["NotifyAccess"] == "main" and svc["TimeoutStartSec"] == "infinity"
    assert svc["KillSignal"] == "SIGINT" and svc["KillMode"] == "mixed" and svc["SendSIGKILL"] == "no"
    # Hardening that would break LVM must stay off.
    for key in ("PrivateDevices", "PrivateIPC", "PrivateNetwork", "ProtectKernelModules"):
        assert key not in svc, key
    assert svc["ProtectSystem"] == "strict" and "/etc/lvm" in svc["ReadWritePaths"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize(("template", "instance"), [("lvmove@.service", "lvmove@vg-pvmove0.service"),
                                                    ("lvmove-vg@.service", "lvmove-vg@my\\x2dvg.service")])
def test_systemd_analyze_verify_is_clean(tmp_path: Path, template: str, instance: str) -> None:
    exe = tmp_path / "lvmove"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    unit = tmp_path / template
    unit.write_text((ROOT / "units" / template).read_text().replace("/usr/bin/lvmove", str(exe)))
    link = tmp_path / instance
    link.symlink_to(unit)
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(link)],
                            capture_output=True, text=True, timeout=60)
    problems = [line for line in result.stderr.splitlines() if "lvmove" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_udev_rule_never_runs_lvm_and_matches_only_pvmove_top_devices() -> None:
    lines = [line.strip() for line in RULE.read_text().replace("\\\n", " ").splitlines()
             if line.strip() and not line.startswith("#")]
    text = "\n".join(lines)
    runs = [line for line in lines if "RUN" in line or "PROGRAM" in line]
    assert runs and not any(re.search(r"(?<![\w-])lvm(?![\w-])", line) for line in runs)  # never LVM itself
    assert 'ENV{DM_LV_NAME}!="pvmove[0-9]*", GOTO="lvmove_end"' in text
    assert 'ENV{DM_LV_LAYER}=="?*", GOTO="lvmove_end"' in text
    assert 'ENV{DM_UUID}!="LVM-?*", GOTO="lvmove_end"' in text
    assert 'TEST!="/run/systemd/system", GOTO="lvmove_end"' in text
    assert "systemd-escape --template=lvmove@.service" in text and "--no-block start" in text
    assert "DM_UDEV_DISABLE_OTHER_RULES_FLAG" not in text  # deliberately not bailing out on it
    assert RULE.name > "95-dm-notify.rules"  # after LVM's cookie is released


def rule_matches(env: dict[str, str]) -> bool:
    """Evaluate the rule's ENV{...} match lines (udev's glob is fnmatch's) up to the PROGRAM line: does a
    device with these udev properties reach the unit start?"""
    import fnmatch
    import re

    for line in RULE.read_text().replace("\\\n", " ").splitlines():
        if line.startswith("PROGRAM"):
            return True
        m = re.match(r'ENV\{(\w+)\}(==|!=)"([^"]*)", GOTO="lvmove_end"', line)
        if m:
            key, op, pattern = m.groups()
            hit = any(fnmatch.fnmatchcase(env.get(key, ""), alt) for alt in pattern.split("|"))
            if hit == (op == "=="):
                return False
    raise AssertionError("no PROGRAM line in the rule")


@pytest.mark.parametrize(("lv", "layer", "wanted"), [
    ("pvmove0", "", True),
    ("pvmove12", "", True),
    ("pvmove0_mimage_0", "", False),  # an --atomic move's image sub-LV: udev gives it no layer
    ("pvmove0_mimage_1", "", False),
    ("pvmove0", "real", False),
    ("pvmovex", "", False),
    ("lv1", "", False),
])
def test_udev_rule_starts_units_for_pvmove_lvs_only(lv: str, layer: str, wanted: bool) -> None:
    env = {"DM_UUID": "LVM-" + "a" * 64, "DM_VG_NAME": "vg", "DM_LV_NAME": lv, "DM_LV_LAYER": layer}
    assert rule_matches(env) is wanted


def test_udev_rule_starts_no_unit_for_a_vg_the_unit_found_excluded() -> None:
    """/run/lvmove/excluded/<VG> (written by the unit) stops the lvmove@ start, not the VG check before it."""
    text = RULE.read_text().replace("\\\n", " ")
    test = 'TEST=="/run/lvmove/excluded/$env{DM_VG_NAME}", GOTO="lvmove_end"'
    assert test in text
    assert text.index("lvmove-vg@.service") < text.index(test) < text.index("--template=lvmove@.service")


def test_udev_rule_checks_each_vg_once_per_boot() -> None:
    """Any LV's device of a VG starts lvmove-vg@<VG>.service unless /run/lvmove/vg-checked/<VG> exists."""
    text = RULE.read_text().replace("\\\n", " ")
    assert 'ENV{LVMOVE_VG_UNIT}=""' in text  # never a stale value from the udev database
    assert 'TEST!="/run/lvmove/vg-checked/$env{DM_VG_NAME}"' in text
    assert "systemd-escape --template=lvmove-vg@.service $env{DM_VG_NAME}" in text
    vg_line = text.index("lvmove-vg@.service")
    assert vg_line < text.index('ENV{DM_LV_NAME}!="pvmove[0-9]*"')  # for every LV, not only pvmove LVs
    unit = (ROOT / "units" / "lvmove-vg@.service").read_text()
    assert "RemainAfterExit=yes" in unit and "ExecStart=/usr/bin/lvmove check-vg %I" in unit
