"""The fake LVM prints what LVM 2.03.16 printed in the captured runs (tests/fixtures/captured/bookworm), and
what newer generations print differently (LVMOVE_FAKE_LVM_VERSION, see tests/fake/fakelvm.py)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fakesystem import FAKE_BIN, FakeSystem

from lvmove_hooks.model import REPORT_FIELDS

CAPTURED = Path(__file__).parent / "fixtures" / "captured" / "bookworm"
LVS = ["lvm", "lvs", "-a", "--segments", "--readonly", "--reportformat", "json", "--units", "b", "--nosuffix",
       "-o", ",".join(REPORT_FIELDS)]
PVS = {"/dev/sda": "8:0", "/dev/sdb": "8:16", "/dev/sdc": "8:32"}


def run(fake: FakeSystem, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), env=fake.env, capture_output=True, text=True, check=False)


def captured_rows(moment: str) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = json.loads((CAPTURED / moment / "lvs-readonly.json").read_text())["report"][0]["seg"]
    return rows


def pin_uuids(fake: FakeSystem, rows: list[dict[str, str]]) -> None:
    """Give the fake VG and LVs the UUIDs of the captured run."""
    by_name = {r["lv_name"].strip("[]"): r["lv_uuid"] for r in rows}
    with fake.edit() as state:
        vg = state["vgs"]["vg"]
        vg["uuid"] = rows[0]["vg_uuid"]
        for lv in vg["lvs"]:
            lv["uuid"] = by_name[lv["name"]]
            if lv.get("atomic"):
                lv["image_uuids"] = {n: by_name[f"{lv['name']}_mimage_{n}"] for n in ("0", "1")}


def device_lines(text: str, name: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in text.splitlines() if line.split(": ", 1)[0] == name]


def minors(lines: list[str]) -> list[str]:
    """Device numbers of other dm devices differ between runs: blank their minors."""
    return [re.sub(r"\b253:\d+\b", "253:N", line) for line in lines]


@pytest.fixture
def by_segment_mid2(fake_system: FakeSystem) -> FakeSystem:
    """As in by-segment-mid2: lv1 (2 x 16 MiB) and lv2 (8 MiB) moving sda -> sdb, one segment checkpointed,
    the second 7/8 regions in sync."""
    fake_system.vg("vg", PVS)
    fake_system.lv("vg", "lv1", [("/dev/sda", 0, 4), ("/dev/sda", 6, 4)])
    fake_system.lv("vg", "lv2", [("/dev/sda", 4, 2)])
    fake_system.move("vg", "/dev/sda", ["/dev/sdb"], checkpointed=1, fixed_pe=3.5)
    pin_uuids(fake_system, captured_rows("by-segment-mid2"))
    return fake_system


@pytest.fixture
def atomic_mid(fake_system: FakeSystem) -> FakeSystem:
    """As in atomic-mid: lv1 (32 MiB) and lv2 (8 MiB) moving sdb -> sdc with --atomic."""
    fake_system.vg("vg", PVS)
    fake_system.lv("vg", "lv1", [("/dev/sdb", 0, 8)])
    fake_system.lv("vg", "lv2", [("/dev/sdb", 8, 2)])
    fake_system.move("vg", "/dev/sdb", ["/dev/sdc"], atomic=True, fixed_pe=3)
    pin_uuids(fake_system, captured_rows("atomic-mid"))
    return fake_system


@pytest.mark.lvm_versions("2.03.16", only=True)
@pytest.mark.parametrize("moment", ["by-segment-mid2", "atomic-mid"])
def test_lvs_readonly_json_is_byte_for_byte_lvms(request: pytest.FixtureRequest, moment: str) -> None:
    fake: FakeSystem = request.getfixturevalue(moment.replace("-", "_"))
    result = run(fake, *LVS, "vg")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (CAPTURED / moment / "lvs-readonly.json").read_text()


def test_dmsetup_by_segment_matches_lvm(by_segment_mid2: FakeSystem) -> None:
    for what in ("table", "status"):
        captured = (CAPTURED / "by-segment-mid2" / f"dmsetup-{what}.txt").read_text()
        for name in ("vg-pvmove0", "vg-lv1", "vg-lv2"):
            result = run(by_segment_mid2, "dmsetup", what, name)
            assert result.returncode == 0, result.stderr
            assert minors(result.stdout.splitlines()) == minors(device_lines(captured, name)), (what, name)


@pytest.mark.lvm_versions("2.03.16", only=True)
def test_dmsetup_atomic_matches_lvm(atomic_mid: FakeSystem) -> None:
    for what in ("table", "status"):
        captured = (CAPTURED / "atomic-mid" / f"dmsetup-{what}.txt").read_text()
        for name in ("vg-pvmove0", "vg-pvmove0_mimage_0", "vg-pvmove0_mimage_1", "vg-lv1", "vg-lv2"):
            result = run(atomic_mid, "dmsetup", what, name)
            out, expected = result.stdout.splitlines(), device_lines(captured, name)
            if name == "vg-pvmove0" and what == "status":  # the copy had gone on when dmsetup status ran
                out, expected = ([re.sub(r" \d+/20 ", " N/20 ", line) for line in lines] for lines in (out, expected))
            assert minors(out) == minors(expected), (what, name)
    fields = (CAPTURED / "atomic-mid" / "dmsetup-info-fields.txt").read_text().splitlines()
    for line in fields:
        name = line.split(":")[0]
        result = run(atomic_mid, "dmsetup", "info", "-c", "--noheadings", "--separator", ":", "-o",
                     "name,uuid,attr", name)
        assert result.stdout.strip() == line


def test_kernel_copy_progresses_and_lvpoll_checkpoints(fake_system: FakeSystem) -> None:
    # The fake clock: the kernel copies only as the test advances it, however slowly processes run (this test
    # failed once under load when it slept 0.3 s between two reads of a copy that ran on wall time).
    fake_system.freeze_clock()
    fake_system.standard(rate_pe=0.1)  # 10 simulated seconds per extent (two regions)
    in_sync = []
    for _ in range(3):
        words = run(fake_system, "dmsetup", "status", "vg-pvmove0").stdout.split()
        in_sync.append(int(words[6].split("/")[0]))
        fake_system.advance(10)
    assert in_sync == [in_sync[0], in_sync[0] + 2, in_sync[0] + 4] and in_sync[2] < 8, in_sync
    fake_system.advance(1000)  # the kernel stops at the end of the segment: in sync, waiting for LVM
    words = run(fake_system, "dmsetup", "status", "vg-pvmove0").stdout.split()
    assert words[6] == "8/8", words
    fake_system.run_clock()
    fake_system.set_move(rate_pe=40)
    result = run(fake_system, "lvm", "lvpoll", "--polloperation", "pvmove", "--interval", "1", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "  vg/pvmove0: Moved: 100.00%"
    assert [e["event"] for e in fake_system.events()] == ["checkpoint", "checkpoint", "finished"]
    assert run(fake_system, "dmsetup", "table", "vg-pvmove0").returncode == 1
    again = run(fake_system, "lvm", "lvpoll", "--polloperation", "pvmove", "--interval", "1", "vg/pvmove0")
    assert again.returncode == 0
    assert "No pvmove in progress - already finished or aborted." in again.stdout


@pytest.mark.lvm_versions()
def test_lvs_of_a_missing_vg(fake_system: FakeSystem) -> None:
    fake_system.standard()
    result = run(fake_system, *LVS, "nosuchvg")
    assert result.returncode == 5
    document = json.loads(result.stdout)
    assert document["report"] == [{"seg": []}]
    if fake_system.lvm_version == "2.03.16":
        assert 'Volume group "nosuchvg" not found' in result.stderr
        assert "log" not in document
        return
    # 2.03.26 on: nothing on stderr; the messages are the "log" report (as real 2.03.31 printed it)
    assert result.stderr == ""
    error, status = document["log"]
    assert error["log_type"] == "error" and error["log_message"] == 'Volume group "nosuchvg" not found'
    assert error["log_object_type"] == "vg" and error["log_object_name"] == "nosuchvg"
    assert status["log_type"] == "status" and status["log_ret_code"] == "5"
    ok = run(fake_system, *LVS, "vg")
    assert ok.returncode == 0 and json.loads(ok.stdout)["log"] == []


@pytest.mark.lvm_versions()
def test_forked_poller_in_proc_as_each_lvm_shows_it(fake_system: FakeSystem) -> None:
    """LVM's background poller: argv[0] rewritten ("(lv"; "(l" on main), exe the lvm binary, comm "lvm"."""
    fake_system.standard(rate_pe=0.1)
    warm = ["lvm", "pvmove", "--config", "global/use_lvmpolld=0", "-b", "--alloc", "normal", "-i", "300",
            "/dev/sda", "/dev/sda"]
    assert run(fake_system, *warm).returncode == 0
    (entry,) = [e for e in fake_system.proc.iterdir() if (e / "syscall").exists()]
    argv0 = "(l" if fake_system.lvm_version == "main" else "(lv"
    assert (entry / "cmdline").read_bytes() == "\0".join([argv0, *warm[1:]]).encode() + b"\0"
    assert (entry / "comm").read_text() == "lvm\n"
    assert (entry / "exe").resolve() == (FAKE_BIN / "lvm").resolve()


@pytest.mark.lvm_versions()
def test_dm_uuid_of_the_pvmove_lv_and_its_images(fake_system: FakeSystem) -> None:
    """2.03.36 on: "-real" after the pvmove LV's (and its hidden mirror images') dm UUID; names unchanged."""
    fake_system.standard(atomic=True)
    suffix = "-real" if fake_system.lvm_version in ("2.03.39", "main") else ""
    vg = fake_system.state()["vgs"]["vg"]
    move = next(lv for lv in vg["lvs"] if lv.get("pvmove"))
    lvm_uuid = "LVM-" + vg["uuid"].replace("-", "")
    expected = {"vg-pvmove0": lvm_uuid + move["uuid"].replace("-", "") + suffix,
                "vg-pvmove0_mimage_0": lvm_uuid + move["image_uuids"]["0"].replace("-", "") + suffix,
                "vg-data": lvm_uuid + next(lv for lv in vg["lvs"] if lv["name"] == "data")["uuid"].replace("-", "")}
    for name, uuid in expected.items():
        info = run(fake_system, "dmsetup", "info", "-c", "--noheadings", "--separator", ":", "-o", "name,uuid",
                   name)
        assert info.stdout.strip() == f"{name}:{uuid}"
    sysfs = {(d / "dm" / "name").read_text().strip(): (d / "dm" / "uuid").read_text().strip()
             for d in (fake_system.sysfs / "block").iterdir()}
    assert {name: sysfs[name] for name in expected} == expected


@pytest.mark.lvm_versions()
def test_orphan_error_lv_is_visible_and_active_from_2_03_31(fake_system: FakeSystem) -> None:
    fake_system.vg("vg", PVS)
    fake_system.lv("vg", "lv1", [("/dev/sdb", 0, 4)])
    fake_system.orphan("vg", "pvmove0")
    result = run(fake_system, *LVS, "vg")
    assert result.returncode == 0, result.stderr
    (row,) = [r for r in json.loads(result.stdout)["report"][0]["seg"] if "pvmove0" in r["lv_name"]]
    hidden = fake_system.lvm_version == "2.03.16"
    assert row["lv_name"] == ("[pvmove0]" if hidden else "pvmove0")
    assert (row["segtype"], row["seg_size_pe"], row["devices"]) == ("error", "1", "")
    assert row["lv_attr"].startswith("v") and row["lv_active"] == "unknown"  # --readonly: unknown everywhere
    info = run(fake_system, "dmsetup", "info", "-c", "--noheadings", "--separator", ":", "-o", "name,uuid",
               "vg-pvmove0")
    if hidden:
        assert info.returncode == 1  # no dm device
        return
    vg = fake_system.state()["vgs"]["vg"]
    uuid = "LVM-" + (vg["uuid"] + row["lv_uuid"]).replace("-", "")
    suffix = "-real" if fake_system.lvm_version in ("2.03.39", "main") else ""
    assert info.stdout.strip() == f"vg-pvmove0:{uuid}{suffix}"
    assert run(fake_system, "dmsetup", "table", "vg-pvmove0").stdout == "0 8192 error\n"


def test_fake_rejects_argv_lvmove_does_not_use(fake_system: FakeSystem) -> None:
    fake_system.standard()
    for argv in (["lvm", "lvs", "vg"], ["lvm", "lvpoll", "vg/pvmove0"], ["dmsetup", "remove", "vg-pvmove0"],
                 ["systemctl", "restart", "lvmove@vg-pvmove0.service"], ["lvm", "vgchange", "-an", "vg"]):
        assert run(fake_system, *argv).returncode != 0, argv


def test_every_command_is_logged(fake_system: FakeSystem) -> None:
    fake_system.standard()
    run(fake_system, "dmsetup", "table", "vg-pvmove0")
    run(fake_system, "systemctl", "--no-block", "start", "lvmove@vg-pvmove0.service")
    logged: list[Any] = [c["argv"] for c in fake_system.commands()]
    assert logged == [["dmsetup", "table", "vg-pvmove0"],
                      ["systemctl", "--no-block", "start", "lvmove@vg-pvmove0.service"]]
    assert fake_system.started_units() == ["lvmove@vg-pvmove0.service"]
