import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "generators" / "lvmove-generator"


def make_sysfs(root: Path, devices: dict[str, tuple[str, str]]) -> Path:
    for dm, (name, uuid) in devices.items():
        d = root / "block" / dm / "dm"
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        (d / "uuid").write_text(uuid + "\n")
    return root


def run_generator(tmp_path: Path, sysfs: Path, *, cmdline: str = "root=/dev/vda", config: str = "",
                  extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = tmp_path / "proc"
    proc.mkdir(exist_ok=True)
    (proc / "cmdline").write_text(cmdline + "\n")
    cfg = tmp_path / "lvmove.yaml"
    cfg.write_text(config)
    env = {
        "PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "LVMOVE_SYSFS": str(sysfs),
        "LVMOVE_PROC": str(proc), "LVMOVE_CONFIG": str(cfg), "LVMOVE_KMSG": str(tmp_path / "kmsg"),
        "LVMOVE_INITRD_RELEASE": str(tmp_path / "no-initrd-release"), **(extra or {}),
    }
    out = tmp_path / "out"
    return subprocess.run([sys.executable, str(GENERATOR), str(out), str(out), str(out)], env=env,
                          capture_output=True, text=True, timeout=30)


DEVICES = {
    "dm-0": ("vg-lv", "LVM-" + "a" * 64),
    "dm-1": ("vg-pvmove0", "LVM-" + "b" * 64),
    "dm-2": ("my--vg-pvmove3", "LVM-" + "c" * 64 + "-real"),
    "dm-3": ("vg-pvmove0_mimage_0", "LVM-" + "d" * 64),
    "dm-4": ("crypt-pvmove0", "CRYPT-LUKS2-xyz"),
    "dm-5": ("vg-pvmove1-cow", "LVM-" + "e" * 64 + "-cow"),
}


def wants(tmp_path: Path) -> list[str]:
    d = tmp_path / "out" / "sysinit.target.wants"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_finds_active_pvmoves(tmp_path: Path) -> None:
    result = run_generator(tmp_path, make_sysfs(tmp_path / "sys", DEVICES))
    assert result.returncode == 0, result.stderr
    assert wants(tmp_path) == ["lvmove@my\\x2dvg-pvmove3.service", "lvmove@vg-pvmove0.service"]
    link = tmp_path / "out" / "sysinit.target.wants" / "lvmove@vg-pvmove0.service"
    assert os.readlink(link).endswith("/lvmove@.service")
    assert "wants lvmove@vg-pvmove0.service" in (tmp_path / "kmsg").read_text()


def test_nothing_without_moves(tmp_path: Path) -> None:
    result = run_generator(tmp_path, make_sysfs(tmp_path / "sys", {"dm-0": ("vg-lv", "LVM-" + "a" * 64)}))
    assert result.returncode == 0 and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [({"cmdline": "quiet lvmove.auto=0"}, "lvmove.auto=0"), ({"config": "auto_resume: false\n"}, "auto_resume")],
)
def test_opt_out(tmp_path: Path, kwargs: dict[str, str], reason: str) -> None:
    result = run_generator(tmp_path, make_sysfs(tmp_path / "sys", DEVICES), **kwargs)
    assert result.returncode == 0 and wants(tmp_path) == []
    assert reason in (tmp_path / "kmsg").read_text()


def test_initrd_does_nothing(tmp_path: Path) -> None:
    result = run_generator(tmp_path, make_sysfs(tmp_path / "sys", DEVICES), extra={"SYSTEMD_IN_INITRD": "1"})
    assert result.returncode == 0 and wants(tmp_path) == []


def test_hostile_sysfs_never_escapes_or_fails(tmp_path: Path) -> None:
    hostile = {
        "dm-0": ("../../etc-pvmove0", "LVM-x"),
        "dm-1": ("vg-pvmove0/../../x", "LVM-y"),
        "dm-2": ("v g-pvmove0", "LVM-z"),
        "dm-3": ("\udcff", "LVM-w"),
    }
    sysfs = make_sysfs(tmp_path / "sys", {k: v for k, v in hostile.items() if k != "dm-3"})
    (sysfs / "block" / "dm-3" / "dm").mkdir(parents=True)
    (sysfs / "block" / "dm-3" / "dm" / "name").write_bytes(b"\xff\xfe-pvmove0")
    (sysfs / "block" / "dm-3" / "dm" / "uuid").write_bytes(b"LVM-\xff")
    result = run_generator(tmp_path, sysfs)
    assert result.returncode == 0
    made = [p for p in tmp_path.rglob("*") if p.is_symlink()]
    assert made == []


def test_unreadable_output_dir_still_exits_zero(tmp_path: Path) -> None:
    sysfs = make_sysfs(tmp_path / "sys", DEVICES)
    (tmp_path / "out").write_text("not a directory")
    result = run_generator(tmp_path, sysfs)
    assert result.returncode == 0
    assert "error" in (tmp_path / "kmsg").read_text()


def test_paused_moves_are_not_wanted(tmp_path: Path) -> None:
    """`lvmove pause` must survive a reboot: the generator leaves a paused move alone."""
    state = tmp_path / "var-lib-lvmove"
    (state / "paused").mkdir(parents=True)
    (state / "paused" / "vg-pvmove0").write_text("some-uuid\n")
    result = run_generator(tmp_path, make_sysfs(tmp_path / "sys", DEVICES), extra={"LVMOVE_STATEDIR": str(state)})
    assert result.returncode == 0, result.stderr
    assert wants(tmp_path) == ["lvmove@my\\x2dvg-pvmove3.service"]
