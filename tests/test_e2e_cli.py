"""End-to-end: `lvmove status/start/abort/move`, bad input, root and configuration errors, against the fake LVM."""

from __future__ import annotations

import json
import os
import re

import pytest
from fakesystem import FakeSystem

from lvmove_hooks import cli

Capsys = pytest.CaptureFixture[str]
MY_VG_UNIT = "lvmove@my\\x2dvg-pvmove0.service"


def main(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    """`lvmove ARGV` in this process (faster than a subprocess): exit code, stdout, stderr."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class Result:
    """What a subprocess run would give: returncode, stdout, stderr."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def inproc(capsys: Capsys, *argv: str) -> Result:
    return Result(*main(capsys, *argv))


def two_moves(fake: FakeSystem) -> None:
    """vg: by-segment /dev/sda -> /dev/sdb at 16.67 %; my-vg: atomic /dev/sdd -> /dev/sde at 50 %."""
    fake.standard(fixed_pe=2)
    fake.vg("my-vg", {"/dev/sdd": "8:48", "/dev/sde": "8:64"})
    fake.lv("my-vg", "home", [("/dev/sdd", 0, 6)])
    fake.move("my-vg", "/dev/sdd", ["/dev/sde"], atomic=True, fixed_pe=3)


# ---- status -------------------------------------------------------------------------------------------------

def test_status_json_lists_moves(fake_system: FakeSystem, capsys: Capsys) -> None:
    two_moves(fake_system)
    fake_system.unit("lvmove@vg-pvmove0.service", ActiveState="activating", SubState="start",
                     StatusText="Moving vg/pvmove0: 16.7%")
    result = inproc(capsys, "status", "--json")
    assert result.returncode == 0, result.stderr
    rows = {f"{r['vg']}/{r['lv']}": r for r in json.loads(result.stdout)["moves"]}
    assert set(rows) == {"vg/pvmove0", "my-vg/pvmove0"}
    seg = rows["vg/pvmove0"]
    assert seg["mode"] == "by-segment"
    assert seg["source"] == "/dev/sda"
    assert seg["destinations"] == ["/dev/sdb"]
    assert sorted(seg["moved_lvs"]) == ["data", "logs"]
    assert seg["size_bytes"] == 12 * 4 * 1024 * 1024
    assert seg["unit"] == "lvmove@vg-pvmove0.service"
    assert seg["unit_state"] == "activating"
    assert seg["unit_status"] == "Moving vg/pvmove0: 16.7%"
    assert seg["uuid"] == fake_system.lv_state("vg", "pvmove0")["uuid"]  # type: ignore[index]
    atomic = rows["my-vg/pvmove0"]
    assert atomic["mode"] == "atomic"
    assert (atomic["source"], atomic["destinations"]) == ("/dev/sdd", ["/dev/sde"])
    assert atomic["moved_lvs"] == ["home"]
    assert atomic["unit"] == MY_VG_UNIT
    assert atomic["unit_state"] == "inactive"
    # Read-only: lvs, systemctl show; nothing that changes anything.
    assert {c["argv"][1] if c["argv"][0] == "lvm" else c["argv"][0] + " " + c["argv"][1]
            for c in fake_system.commands()} <= {"lvs", "systemctl show", "dmsetup table", "dmsetup status",
                                                 "dmsetup info"}


def test_status_json_percent_and_activity_without_a_unit(fake_system: FakeSystem, capsys: Capsys) -> None:
    """No unit runs (no progress file): percent and activity must still come from LVM or the kernel."""
    two_moves(fake_system)
    result = inproc(capsys, "status", "--json")
    assert result.returncode == 0, result.stderr
    rows = {f"{r['vg']}/{r['lv']}": r for r in json.loads(result.stdout)["moves"]}
    assert rows["vg/pvmove0"]["percent"] == pytest.approx(16.67, abs=0.01)
    assert rows["my-vg/pvmove0"]["percent"] == pytest.approx(50.0, abs=0.01)
    assert rows["vg/pvmove0"]["active"] is True


def test_status_json_takes_percent_from_the_kernel_and_rate_from_the_unit(fake_system: FakeSystem,
                                                                          capsys: Capsys) -> None:
    """The unit rewrites its progress file only every few seconds: the percent comes from the kernel now,
    rate and ETA from the file; the file's percent only when the kernel cannot be read."""
    fake_system.standard(fixed_pe=2)
    fake_system.rundir.mkdir()
    (fake_system.rundir / "vg-pvmove0.json").write_text(json.dumps({
        "vg": "vg", "lv": "pvmove0", "percent": 42.5, "rate_bytes_per_s": 1048576, "eta_seconds": 28,
        "poller": "lvmove", "updated": __import__("time").time()}), encoding="utf-8")
    result = inproc(capsys, "status", "--json", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["moves"]
    assert (row["rate_bytes_per_s"], row["eta_seconds"]) == (1048576, 28)
    assert row["percent"] == pytest.approx(16.67, abs=0.01)  # the kernel's, not the file's 42.5
    fake_system.set_move(dm="nolive")  # no live table: nothing to read in the kernel
    result = inproc(capsys, "status", "--json", "vg/pvmove0")
    (row,) = json.loads(result.stdout)["moves"]
    assert row["percent"] == 42.5


def test_status_text(fake_system: FakeSystem, capsys: Capsys) -> None:
    """One word per cell (awk-safe): sizes as lvs prints them, the unit's state in a column of its own."""
    two_moves(fake_system)
    fake_system.unit("lvmove@vg-pvmove0.service", ActiveState="activating")
    result = inproc(capsys, "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = ["MOVE", "DONE", "SIZE", "RATE", "ETA", "MODE", "FROM", "TO", "UNIT", "STATE"]
    assert lines[0].split() == header
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert all(len(row) == len(header) for row in rows.values()), lines
    assert rows["vg/pvmove0"] == ["vg/pvmove0", "16.67", "48.00m", "-", "-", "by-segment", "/dev/sda", "/dev/sdb",
                                  "lvmove@vg-pvmove0.service", "activating"]
    assert rows["my-vg/pvmove0"][1:] == ["50.00", "24.00m", "-", "-", "atomic", "/dev/sdd", "/dev/sde", MY_VG_UNIT,
                                         "inactive"]


def test_status_text_shows_percent_of_active_moves(fake_system: FakeSystem, capsys: Capsys) -> None:
    two_moves(fake_system)
    result = inproc(capsys, "status")
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:]}
    assert rows == {"vg/pvmove0": "16.67", "my-vg/pvmove0": "50.00"}


def test_status_fields_units_and_separator(fake_system: FakeSystem, capsys: Capsys) -> None:
    """-o with lvs's field names, --units/--nosuffix as lvs (powers of 1024), --noheadings, --separator."""
    two_moves(fake_system)
    uuid = fake_system.lv_state("vg", "pvmove0")["uuid"]  # type: ignore[index]
    result = inproc(capsys, "status", "vg/pvmove0", "-o", "vg_name,lv_name,lv_uuid,move_pv,dest_pvs,copy_percent,"
                    "lv_size,move_mode,unit,unit_state,paused", "--units", "b", "--nosuffix", "--noheadings")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["vg", "pvmove0", uuid, "/dev/sda", "/dev/sdb", "16.67", str(48 * 1024 ** 2),
                                     "by-segment", "lvmove@vg-pvmove0.service", "inactive", "no"]
    for units, size in (("k", "49152.00k"), ("m", "48.00m"), ("g", "0.05g"), ("b", "50331648B"), ("h", "48.00m")):
        out = inproc(capsys, "status", "vg/pvmove0", "-o", "size", "--units", units, "--noheadings").stdout
        assert out.strip() == size, units
    result = inproc(capsys, "status", "--separator", ";", "-o", "lv_full_name,rate,eta,lv_size", "--units", "k")
    assert result.stdout.splitlines() == ["MOVE;RATE;ETA;SIZE", "my-vg/pvmove0;;;24576.00k",
                                          "vg/pvmove0;;;49152.00k"]
    plus = inproc(capsys, "status", "-o", "+lv_uuid", "-o-unit").stdout.splitlines()[0].split()
    assert plus == ["MOVE", "DONE", "SIZE", "RATE", "ETA", "MODE", "FROM", "TO", "STATE", "UUID"]


def test_status_fields_of_a_move_with_rate_and_eta(fake_system: FakeSystem, capsys: Capsys) -> None:
    fake_system.standard(fixed_pe=2)
    fake_system.rundir.mkdir()
    (fake_system.rundir / "vg-pvmove0.json").write_text(json.dumps({
        "vg": "vg", "lv": "pvmove0", "percent": 16.0, "rate_bytes_per_s": 3 * 1024 ** 2, "eta_seconds": 245,
        "poller": "lvmove", "updated": __import__("time").time()}), encoding="utf-8")
    out = inproc(capsys, "status", "-o", "rate,eta,eta_seconds,poller", "--noheadings").stdout
    assert out.split() == ["3.00m/s", "4m05s", "245", "lvmove"]
    out = inproc(capsys, "status", "-o", "rate", "--noheadings", "--units", "b", "--nosuffix").stdout
    assert out.split() == [str(3 * 1024 ** 2)]


def test_status_field_help_and_bad_fields(fake_system: FakeSystem, capsys: Capsys) -> None:
    from lvmove_hooks.fields import FIELDS

    fake_system.standard()
    code, out, _err = main(capsys, "status", "-o", "help")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:len(FIELDS) + 1]] == [f.name for f in FIELDS]
    for argv in (["-o", "lv_size,bogus"], ["--json", "-o", "lv_size"], ["--map"]):
        code, _out, err = main(capsys, "status", *argv)
        assert code == 2, argv
        assert len(err.strip().splitlines()) == 1 and err.startswith("lvmove: "), err
    with pytest.raises(SystemExit) as exc:
        cli.main(["status", "--units", "x"])
    assert exc.value.code == 2 and "--units" in capsys.readouterr().err
    assert fake_system.commands() == [], "a command ran for bad input"


def test_status_script_output_keeps_notes_off_stdout(fake_system: FakeSystem, capsys: Capsys) -> None:
    """With -o/--noheadings/--separator stdout holds only the table; what needs the admin goes to stderr."""
    fake_system.standard(active=False)
    code, out, err = main(capsys, "status", "--noheadings", "-o", "lv_full_name,copy_percent,lv_active,attention",
                          "--separator", "|")
    assert code == 10
    assert out.splitlines() == ["vg/pvmove0||no|inactive: its LVs were not activated (autoactivation off?) and no "
                                "unit carries it"]
    assert "lvmove: vg/pvmove0: inactive" in err and "fix: lvmove start vg/pvmove0" in err


def test_status_names_the_missing_pv_that_kept_the_vg_down(fake_system: FakeSystem, capsys: Capsys) -> None:
    """LVM does not autoactivate a VG with a PV missing: an inactive move there is explained by that PV (not
    "autoactivation off?"), with the way to go on without the disk."""
    fake_system.standard(active=False)
    uuid = fake_system.pull_disk("/dev/sdc")  # holds a piece of `data`, not a leg of the move
    result = inproc(capsys, "status")
    assert result.returncode == 10, result.stderr
    assert f"vg/pvmove0: inactive: volume group vg is incomplete (PV {uuid}" in result.stdout
    assert "autoactivation off" not in result.stdout
    assert "vgchange -ay --activationmode partial vg, then lvmove start vg/pvmove0" in result.stdout


def test_status_inactive_move_needs_the_admin(fake_system: FakeSystem, capsys: Capsys) -> None:
    """An inactive move that no unit carries (autoactivation kept its LVs down) is stalled: status says why
    and what to run, and exits 10."""
    fake_system.standard(active=False)
    result = inproc(capsys, "status")
    assert result.returncode == 10, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("vg/pvmove0 "))
    assert row.split()[1] == "-"  # not known: no device to read
    assert "vg/pvmove0: inactive: its LVs were not activated" in result.stdout
    assert "fix: lvmove start vg/pvmove0" in result.stdout
    fake_system.unit("lvmove@vg-pvmove0.service", ActiveState="activating")
    assert inproc(capsys, "status").returncode == 0  # a unit carries it now


def test_status_lists_orphans_with_the_fix(fake_system: FakeSystem, capsys: Capsys) -> None:
    fake_system.vg("vg")
    fake_system.lv("vg", "data", [("/dev/sda", 0, 4)])
    fake_system.orphan("vg", "pvmove1")
    result = inproc(capsys, "status", "--json")
    assert result.returncode == 10, result.stderr
    view = json.loads(result.stdout)
    assert view["moves"] == [] and view["attention"] is True
    (row,) = view["orphans"]
    assert (row["vg"], row["lv"]) == ("vg", "pvmove1") and "lvremove vg/pvmove1" in row["fix"]


def test_status_without_moves(fake_system: FakeSystem, capsys: Capsys) -> None:
    fake_system.vg("vg")
    fake_system.lv("vg", "data", [("/dev/sda", 0, 4)])
    assert inproc(capsys, "status").stdout.strip() == "no pvmove in flight"
    result = inproc(capsys, "status", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"schema": 2, "moves": [], "orphans": [], "jobs": [], "attention": False}


def test_status_of_unknown_move_exits_9(fake_system: FakeSystem, capsys: Capsys) -> None:
    fake_system.standard()
    result = inproc(capsys, "status", "vg/pvmove3")
    assert result.returncode == 9, result.stderr
    assert "vg/pvmove3" in result.stderr


def test_status_map_of_both_modes(fake_system: FakeSystem, capsys: Capsys) -> None:
    """--map draws one move from the same report as status, with the kernel's view of each segment."""
    two_moves(fake_system)
    code, out, err = main(capsys, "status", "vg/pvmove0", "--map")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == ("vg/pvmove0: by-segment move /dev/sda -> /dev/sdb, 12 extents of 4.0 MiB (48.0 MiB), "
                        "16.7% copied")
    assert "  data:0-3    0-3      16.0 MiB  mirroring 50%  /dev/sda:0-3, copying to /dev/sdb:0-3" in lines
    assert "  data:6-9    4-7      16.0 MiB  pending        /dev/sda:8-11 (to /dev/sdb:4-7)" in lines
    assert "  logs:0-3    8-11     16.0 MiB  pending        /dev/sda:4-7 (to /dev/sdb:8-11)" in lines
    assert "inferred" not in out  # the LVs' dm tables said where they sit on pvmove0
    code, out, err = main(capsys, "status", "my-vg/pvmove0", "--map")
    assert code == 0, err
    assert "  home:0-5    0-5      24.0 MiB  mirroring 50%  /dev/sdd:0-5, copying to /dev/sde:0-5" in out
    assert "| mirror, 50.0% in sync" in out and "stays on /dev/sdd; nothing is final" in out


# ---- start --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", [
    "my-vg/pvmove0",
    "my\\x2dvg-pvmove0",
    MY_VG_UNIT,
    "my--vg-pvmove0",
    "/dev/mapper/my--vg-pvmove0",
    "/dev/sdd",
])
def test_start_every_target_form_starts_the_unit(fake_system: FakeSystem, capsys: Capsys,
                                                 target: str) -> None:
    two_moves(fake_system)
    code, out, err = main(capsys, "start", target)
    assert code == 0, err
    assert ["systemctl", "--no-block", "start", MY_VG_UNIT] in fake_system.argvs("systemctl")
    assert fake_system.started_units() == [MY_VG_UNIT]
    assert f"started {MY_VG_UNIT} for my-vg/pvmove0" in out
    assert "lvmove watch my-vg/pvmove0" in out
    assert (fake_system.rundir / "manual-my\\x2dvg-pvmove0").exists()  # `run` resumes even if auto_resume is off


def test_start_unknown_move_exits_9_without_systemctl(fake_system: FakeSystem, capsys: Capsys) -> None:
    two_moves(fake_system)
    result = inproc(capsys, "start", "/dev/sdc")
    assert result.returncode == 9, result.stderr
    assert "/dev/sdc" in result.stderr
    assert fake_system.argvs("systemctl") == []


def test_start_when_systemctl_fails_exits_1(fake_system: FakeSystem, capsys: Capsys) -> None:
    fake_system.standard()
    with fake_system.edit() as state:
        state["systemctl_fail"] = True
    result = inproc(capsys, "start", "vg/pvmove0")
    assert result.returncode == 1, result.stderr
    assert "lvmove@vg-pvmove0.service" in result.stderr
    assert "lvmove run" in result.stderr  # the hint: carry it in this shell


def test_auto_resume_false_only_manual_starts_run(fake_system: FakeSystem) -> None:
    fake_system.standard(atomic=True)
    fake_system.config("auto_resume: false\npoll_interval: 60\n")
    unit_env = {"INVOCATION_ID": "0123456789abcdef"}
    skipped = fake_system.lvmove("run", "vg/pvmove0", env=unit_env)
    assert skipped.returncode == 0, skipped.stderr
    assert "auto_resume is false" in skipped.stdout and str(fake_system.config_path) in skipped.stdout
    assert fake_system.commands() == []
    assert fake_system.lvmove("start", "vg/pvmove0").returncode == 0
    done = fake_system.lvmove("run", "vg/pvmove0", env=unit_env)
    assert done.returncode == 0, done.stderr
    assert "completed:" in done.stdout + done.stderr  # under systemd: said once, by the journal event
    assert fake_system.lv_state("vg", "pvmove0") is None


# ---- abort --------------------------------------------------------------------------------------------------

def test_abort_by_segment_keeps_checkpointed_segments(fake_system: FakeSystem, capsys: Capsys) -> None:
    fake_system.standard(checkpointed=1, fixed_pe=0)
    result = inproc(capsys, "abort", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "aborting vg/pvmove0 (by-segment, " in out
    assert "checkpointed stay on /dev/sdb" in out and "the rest goes back to /dev/sda" in out
    assert "vg/data: 16.0 MiB on /dev/sda, 24.0 MiB elsewhere" in out
    assert "vg/logs: 16.0 MiB on /dev/sda, 0 B elsewhere" in out
    assert out.strip().splitlines()[-1] == "aborted vg/pvmove0"
    # Before it aborts, the picture of what stays where (segment 1 is checkpointed).
    assert "  data:0-3    0-3      16.0 MiB  done          /dev/sdb:0-3" in out
    assert "    vg/data: 16.0 MiB stays on /dev/sdb, 16.0 MiB back on /dev/sda" in out
    assert out.index("if aborted now:") < out.index("aborting vg/pvmove0")
    assert fake_system.argvs("lvm", "pvmove") == [["lvm", "pvmove", "--abort", "/dev/sda"]]
    assert fake_system.devices_of("vg", "data") == ["/dev/sdb", "/dev/sdc", "/dev/sda"]
    assert fake_system.devices_of("vg", "logs") == ["/dev/sda"]
    assert fake_system.lv_state("vg", "pvmove0") is None


def test_abort_active_move_says_how_far_it_got_and_does_not_activate(fake_system: FakeSystem, capsys: Capsys) -> None:
    fake_system.standard(checkpointed=1, fixed_pe=0)
    result = inproc(capsys, "abort", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "aborting vg/pvmove0 (by-segment, 33.33% copied)" in result.stdout
    assert fake_system.argvs("lvm", "lvchange") == []


def test_abort_atomic_puts_everything_back(fake_system: FakeSystem, capsys: Capsys) -> None:
    fake_system.standard(atomic=True, fixed_pe=9)
    result = inproc(capsys, "abort", "/dev/sda")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "aborting vg/pvmove0 (atomic): everything goes back to /dev/sda" in out
    assert "vg/data: 32.0 MiB on /dev/sda, 8.0 MiB elsewhere" in out
    assert "vg/logs: 16.0 MiB on /dev/sda, 0 B elsewhere" in out
    assert fake_system.devices_of("vg", "data") == ["/dev/sda", "/dev/sdc", "/dev/sda"]
    assert fake_system.devices_of("vg", "logs") == ["/dev/sda"]


def test_abort_inactive_move_activates_it_first(fake_system: FakeSystem, capsys: Capsys) -> None:
    fake_system.standard(active=False, checkpointed=2)
    result = inproc(capsys, "abort", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    lvm_cmds = [c["argv"][1:3] for c in fake_system.commands() if c["argv"][1] != "lvs"]
    assert lvm_cmds == [["lvchange", "-ay"], ["pvmove", "--abort"]]
    assert fake_system.devices_of("vg", "data") == ["/dev/sdb", "/dev/sdc", "/dev/sdb"]
    assert fake_system.devices_of("vg", "logs") == ["/dev/sda"]


def test_abort_without_a_unit_leaves_no_flag(fake_system: FakeSystem, capsys: Capsys) -> None:
    fake_system.standard(fixed_pe=1)
    assert inproc(capsys, "abort", "vg/pvmove0").returncode == 0
    assert not list(fake_system.rundir.glob("abort-*"))


def test_abort_while_the_unit_runs(fake_system: FakeSystem) -> None:
    fake_system.standard(rate_pe=0.5)
    run = fake_system.lvmove_popen("run", "vg/pvmove0")
    fake_system.wait_for("lvmove run to watch the kernel", lambda: bool(fake_system.argvs("dmsetup", "status")))
    result = fake_system.lvmove("abort", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    out, err = run.communicate(timeout=30)
    assert run.returncode == 0, err
    assert "aborted on request (lvmove abort)" in out
    assert not list(fake_system.rundir.glob("abort-*")), "abort flag left behind"
    assert fake_system.events("sigint-outside-sleep") == []


# ---- move ---------------------------------------------------------------------------------------------------

@pytest.fixture
def pv_paths_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    """`lvmove move` checks that the PV paths exist; the fake PVs are only names."""
    real = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda p: p in ("/dev/sda", "/dev/sdb", "/dev/sdc") or real(p))


def vg_without_move(fake: FakeSystem) -> None:
    fake.vg("vg")
    fake.lv("vg", "data", [("/dev/sda", 0, 4), ("/dev/sdc", 0, 2), ("/dev/sda", 8, 4)])
    fake.lv("vg", "logs", [("/dev/sda", 4, 4)])


@pytest.mark.parametrize(("extra", "mode"), [(["--atomic"], "atomic"), (["--lv", "data"], "by-segment")])
def test_move_sets_up_with_pvmove_and_starts_the_unit(
        fake_system: FakeSystem, pv_paths_exist: None, capsys: Capsys, extra: list[str],
        mode: str) -> None:
    vg_without_move(fake_system)
    code = cli.main(["move", "/dev/sda", "/dev/sdb", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    (pvmove,) = fake_system.argvs("lvm", "pvmove")
    assert pvmove[:6] == ["lvm", "pvmove", "--config", "global/use_lvmpolld=0", "-i", "+86400"]
    assert pvmove[6:] == [*(["--atomic"] if mode == "atomic" else ["-n", "data"]), "/dev/sda", "/dev/sdb"]
    assert fake_system.started_units() == ["lvmove@vg-pvmove0.service"]
    assert f"from /dev/sda to /dev/sdb as vg/pvmove0 ({mode}), carried by lvmove@vg-pvmove0.service" in out
    move = fake_system.lv_state("vg", "pvmove0")
    assert move is not None and move["atomic"] is (mode == "atomic")
    assert fake_system.running_lvm() == [], "pvmove left running"
    assert fake_system.events("sigint-outside-sleep") == []


def test_move_hands_over_a_move_already_in_sync(fake_system: FakeSystem, pv_paths_exist: None,
                                               capsys: Capsys) -> None:
    """pvmove's "-i +N" sleeps before its first check, so even a move the kernel copies at once is left for
    the unit rather than finished inside `lvmove move`."""
    vg_without_move(fake_system)
    with fake_system.edit() as state:
        state["new_rate"] = 1e9  # in sync the moment it exists
    code = cli.main(["move", "/dev/sda", "/dev/sdb", "--atomic"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert fake_system.started_units() == ["lvmove@vg-pvmove0.service"], out
    assert fake_system.lv_state("vg", "pvmove0") is not None


def test_move_missing_destination_runs_nothing(fake_system: FakeSystem, pv_paths_exist: None,
                                               capsys: Capsys) -> None:
    vg_without_move(fake_system)
    code = cli.main(["move", "/dev/sda", "/dev/sdz"])
    err = capsys.readouterr().err
    assert code == 2
    assert "/dev/sdz does not exist" in err
    assert fake_system.commands() == []


def test_move_of_a_pe_range_is_matched_by_its_pv(fake_system: FakeSystem, pv_paths_exist: None,
                                                capsys: Capsys) -> None:
    """`lvmove move SRC:PE-range` (pvmove's own form): the move in flight off SRC is found and carried."""
    vg_without_move(fake_system)
    code = cli.main(["move", "/dev/sda:0-3", "/dev/sdb"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "nothing left to move" not in out
    assert "as vg/pvmove0 (by-segment), carried by lvmove@vg-pvmove0.service" in out
    (pvmove,) = fake_system.argvs("lvm", "pvmove")
    assert pvmove[-2:] == ["/dev/sda:0-3", "/dev/sdb"]


def vg_with_large_segment(fake: FakeSystem) -> None:
    """vg: "big", one 64 MiB segment (16 extents of 4 MiB) on /dev/sda, and "small", 8 MiB on /dev/sda."""
    fake.vg("vg")
    fake.lv("vg", "big", [("/dev/sda", 0, 16)])
    fake.lv("vg", "small", [("/dev/sda", 16, 2)])


@pytest.mark.lvm_versions("2.03.39", "main")
def test_move_bounds_the_recopy_on_lvm_with_the_setting(fake_system: FakeSystem, pv_paths_exist: None,
                                                       capsys: Capsys) -> None:
    """LVM >= 2.03.36: `lvmove move` passes allocation/pvmove_max_segment_size_mb=max_recopy in pvmove's one
    --config string, and LVM splits the 64 MiB segment into checkpointed pieces of 16 MiB."""
    vg_with_large_segment(fake_system)
    fake_system.config("max_recopy: 16M\n")
    code = cli.main(["move", "/dev/sda", "/dev/sdb"])
    out, err = capsys.readouterr()
    assert code == 0, err
    (pvmove,) = fake_system.argvs("lvm", "pvmove")
    assert pvmove[2:4] == ["--config", "global/use_lvmpolld=0 allocation/pvmove_max_segment_size_mb=16"]
    assert "pieces of at most 16.0 MiB (max_recopy)" in out
    move = fake_system.lv_state("vg", "pvmove0")
    assert move is not None
    assert [p["size_pe"] for p in move["pieces"]] == [4, 4, 4, 4, 2]
    assert fake_system.started_units() == ["lvmove@vg-pvmove0.service"]


@pytest.mark.lvm_versions("2.03.39")
@pytest.mark.parametrize(("config", "lvm_conf", "expect"), [
    ("max_recopy: false\n", 0, "global/use_lvmpolld=0"),  # no bound asked for
    ("max_recopy: 1G\n", 0, "global/use_lvmpolld=0"),  # no segment is larger: LVM is not even asked
    ("max_recopy: 32M\n", 8, "global/use_lvmpolld=0"),  # lvm.conf already bounds it more tightly
    ("max_recopy: 32M\n", 64, "global/use_lvmpolld=0 allocation/pvmove_max_segment_size_mb=32"),
])
def test_move_sets_the_bound_only_where_it_changes_something(fake_system: FakeSystem, pv_paths_exist: None,
                                                             capsys: Capsys, config: str, lvm_conf: int,
                                                             expect: str) -> None:
    vg_with_large_segment(fake_system)
    fake_system.config(config)
    with fake_system.edit() as state:
        state["pvmove_max_segment_size_mb"] = lvm_conf
    code = cli.main(["move", "/dev/sda", "/dev/sdb"])
    assert code == 0, capsys.readouterr().err
    (pvmove,) = fake_system.argvs("lvm", "pvmove")
    assert pvmove[2:4] == ["--config", expect]


@pytest.mark.lvm_versions("2.03.39")
def test_atomic_move_is_never_split_and_says_so(fake_system: FakeSystem, pv_paths_exist: None,
                                               capsys: Capsys) -> None:
    vg_with_large_segment(fake_system)
    fake_system.config("max_recopy: 16M\n")
    code = cli.main(["move", "--atomic", "/dev/sda", "/dev/sdb"])
    out, err = capsys.readouterr()
    assert code == 0, err
    (pvmove,) = fake_system.argvs("lvm", "pvmove")
    assert pvmove[2:4] == ["--config", "global/use_lvmpolld=0"]
    assert "an --atomic move is one mirror: a crash makes it copy all 72.0 MiB again" in err
    assert "(atomic), carried by lvmove@vg-pvmove0.service" in out


def test_move_in_an_excluded_vg_is_left_to_lvms_own_poller(fake_system: FakeSystem, pv_paths_exist: None,
                                                          capsys: Capsys) -> None:
    """The unit would say "nothing to do" for an excluded VG: pvmove's own polling is never interrupted."""
    vg_without_move(fake_system)
    fake_system.config("exclude: [vg]\n")
    code = cli.main(["move", "/dev/sda", "/dev/sdb"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert fake_system.argvs("lvm", "pvmove") == [["lvm", "pvmove", "-b", "/dev/sda", "/dev/sdb"]]
    assert fake_system.started_units() == []
    assert "excluded" in err and "carried by LVM's own poller" in out
    assert fake_system.lv_state("vg", "pvmove0") is not None


def test_move_whose_unit_does_not_run_is_carried_by_lvms_poller(fake_system: FakeSystem, pv_paths_exist: None,
                                                               capsys: Capsys) -> None:
    """`systemctl --no-block start` returns 0 although the unit's condition skips it (lvmove.auto=0 set
    later, a drop-in...): lvmove sees the unit is not running and has LVM's background poller carry it."""
    vg_without_move(fake_system)
    with fake_system.edit() as state:
        state["start_result"] = {"ActiveState": "inactive", "ConditionResult": "no"}
    code = cli.main(["move", "/dev/sda", "/dev/sdb"])
    out, err = capsys.readouterr()
    assert code == 0, err
    pvmoves = fake_system.argvs("lvm", "pvmove")
    assert pvmoves[-1] == ["lvm", "pvmove", "--config", "global/use_lvmpolld=0", "-b", "--alloc", "normal",
                           "-i", "15", "/dev/sda", "/dev/sda"]
    assert "carried by LVM's own background poller" in out and "was skipped" in out


def test_start_of_a_masked_unit_fails_and_starts_nothing(fake_system: FakeSystem, capsys: Capsys) -> None:
    fake_system.standard()
    fake_system.unit("lvmove@vg-pvmove0.service", LoadState="masked")
    result = inproc(capsys, "start", "vg/pvmove0")
    assert result.returncode == 1, result.stderr
    assert "is masked" in result.stderr and "lvmove run vg/pvmove0" in result.stderr
    assert fake_system.started_units() == []


def test_pause_survives_until_resume(fake_system: FakeSystem, capsys: Capsys) -> None:
    """`lvmove pause` stops the unit and leaves a flag the unit's condition and the generator honour (so
    uevents and reboots do not restart it); `start` refuses; `resume` clears it and starts the unit."""
    fake_system.standard(fixed_pe=2)
    result = inproc(capsys, "pause", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "paused vg/pvmove0 at 16.7%" in result.stdout and "lvmove resume vg/pvmove0" in result.stdout
    assert fake_system.state()["stopped_units"] == ["lvmove@vg-pvmove0.service"]
    uuid = fake_system.lv_state("vg", "pvmove0")["uuid"]  # type: ignore[index]
    flag = fake_system.root / "var-lib-lvmove" / "paused" / "vg-pvmove0"
    assert flag.read_text().strip() == uuid
    status = json.loads(inproc(capsys, "status", "--json").stdout)["moves"][0]
    assert status["paused"] is True
    refused = inproc(capsys, "start", "vg/pvmove0")
    assert refused.returncode == 1 and "is paused" in refused.stderr and "lvmove resume" in refused.stderr
    assert fake_system.started_units() == []
    resumed = inproc(capsys, "resume", "vg/pvmove0")
    assert resumed.returncode == 0, resumed.stderr
    assert not flag.exists() and fake_system.started_units() == ["lvmove@vg-pvmove0.service"]


def test_move_takes_pvmoves_own_option_spellings(fake_system: FakeSystem, pv_paths_exist: None,
                                                 capsys: Capsys) -> None:
    """`-n LV` and `--alloc POLICY` as pvmove spells them, and `-v` after the subcommand."""
    vg_without_move(fake_system)
    code = cli.main(["move", "-v", "-n", "data", "--alloc", "anywhere", "/dev/sda", "/dev/sdb"])
    _out, err = capsys.readouterr()
    assert code == 0, err
    (pvmove,) = fake_system.argvs("lvm", "pvmove")
    assert pvmove[6:] == ["--alloc", "anywhere", "-n", "data", "/dev/sda", "/dev/sdb"]
    assert "start:" in err or "lvm pvmove" in err  # -v logged the commands


# ---- bad input, root, configuration ----------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["run", "vg/lv;rm"],
    ["run", "vg/notpvmove"],
    ["run", "vg"],
    ["run", "../pvmove0"],
    ["run", "vg/pvmove0/x"],
    ["start", "../x"],
    ["start", "/dev/mapper/vg-pvmove0_mimage_0"],
    ["start", "vg-pvmove0-extra-layer"],
    ["abort", "vg/$(reboot)"],
    ["status", "vg/lv name"],
    ["watch", "vg/data"],
    ["move", "/etc/passwd", "/dev/sdb"],
    ["move", "/dev/sda", "--lv", "bad/name;x"],
])
def test_bad_input_exits_2_without_running_anything(fake_system: FakeSystem, capsys: Capsys,
                                                   argv: list[str]) -> None:
    fake_system.standard()
    code, out, err = main(capsys, *argv)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lvmove: "), err
    assert fake_system.commands() == [], "a command ran for bad input"


@pytest.mark.parametrize("argv", [
    ["run", "vg/pvmove0"], ["start", "vg/pvmove0"], ["abort", "vg/pvmove0"], ["move", "/dev/sda", "/dev/sdb"],
])
def test_needs_root(fake_system: FakeSystem, monkeypatch: pytest.MonkeyPatch, capsys: Capsys,
                    argv: list[str]) -> None:
    fake_system.standard()
    monkeypatch.delenv("LVMOVE_ALLOW_NONROOT")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 77
    assert f"'lvmove {argv[0]}' needs root" in err and f"sudo lvmove {argv[0]}" in err
    assert fake_system.commands() == []


@pytest.mark.parametrize(("text", "key"), [
    ("poll_interval: 0\n", "poll_interval"),
    ("poll_interval: fast\n", "poll_interval"),
    ("activate_inactive: maybe\n", "activate_inactive"),
    ("exclude: [ok, 'bad/vg']\n", "exclude"),
    ("bogus: 1\n", "bogus"),
    ("poll_interval: [1\n", "line"),
])
@pytest.mark.parametrize("command", [["run", "vg/pvmove0"], ["move", "/dev/sda", "/dev/sdb"]])
def test_bad_config_exits_78_naming_file_and_key(fake_system: FakeSystem, pv_paths_exist: None,
                                                capsys: Capsys, text: str, key: str,
                                                command: list[str]) -> None:
    fake_system.standard()
    fake_system.config(text)
    code = cli.main(command)
    err = capsys.readouterr().err
    assert code == 78, err
    assert str(fake_system.config_path) in err
    assert key in err
    assert fake_system.commands() == []


# ---- watch --------------------------------------------------------------------------------------------------

def test_watch_follows_a_move_until_it_ends(fake_system: FakeSystem) -> None:
    fake_system.standard(atomic=True, rate_pe=0.2)
    watch = fake_system.lvmove_popen("watch", "vg/pvmove0", "--interval", "0.5")
    assert watch.stdout is not None
    first = watch.stdout.readline().strip()
    assert re.fullmatch(r"vg/pvmove0: \d+\.\d% of 48\.0 MiB", first), first
    fake_system.set_move(rate_pe=40)  # now let lvmpolld's poller finish it
    poller = fake_system.lvmpolld_poll("vg/pvmove0", interval=10)
    out, err = watch.communicate(timeout=20)
    assert watch.returncode == 0, err
    assert out.strip().splitlines()[-1].strip() == "vg/pvmove0: completed: 48.0 MiB moved from /dev/sda to /dev/sdb"
    assert "failed" not in err, err  # the mirror device going away at the end is an answer, not a warning
    assert poller.wait(timeout=5) == 0
    # Only reads.
    assert {tuple(c["argv"][:2]) for c in fake_system.commands() if c["pid"] != poller.pid} <= {
        ("lvm", "lvs"), ("systemctl", "show"), ("dmsetup", "table"), ("dmsetup", "status"), ("dmsetup", "info")}


def test_watch_reports_an_aborted_move(fake_system: FakeSystem) -> None:
    fake_system.standard(checkpointed=1, fixed_pe=1)
    watch = fake_system.lvmove_popen("watch", "vg/pvmove0", "--interval", "0.5")
    assert watch.stdout is not None
    first = watch.stdout.readline().strip()
    assert first == "vg/pvmove0: 41.7% of 48.0 MiB"  # segment 1 checkpointed, a quarter of segment 2
    assert fake_system.lvmove("abort", "vg/pvmove0").returncode == 0
    out, err = watch.communicate(timeout=20)
    assert watch.returncode == 11, err
    last = out.strip().splitlines()[-1].strip()
    assert last == "vg/pvmove0: aborted: 32.0 MiB went back to /dev/sda"  # what was not checkpointed
