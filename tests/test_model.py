import json
from dataclasses import replace

from lvmove_hooks.model import MissingPv, find_moves, parse_devices, parse_lvs
from tests.helpers import BOOKWORM


def _rows(*rows: dict[str, str], log: bool = False) -> str:
    doc: dict[str, object] = {"report": [{"seg": list(rows)}]}
    if log:  # LVM >= 2.03.26 adds a log array by default
        doc["log"] = [{"log_seq_num": "1", "log_type": "status", "log_message": ""}]
    return json.dumps(doc)


BASE = {"vg_name": "vg", "vg_uuid": "V", "vg_extent_size": "4194304", "lv_active": "active", "move_pv": "",
        "copy_percent": "", "lv_layout": "linear", "lv_role": "public"}


def test_real_2_03_16_report() -> None:
    vols = parse_lvs((BOOKWORM / "C-rootfs-stock_phase1_mid-pvmove" / "lvs-devices.json").read_text())
    assert [v.name for v in vols] == ["lv", "pvmove0"]
    lv, pv = vols
    assert lv.locked and lv.maps_to("pvmove0") and lv.size == 48 * 1024 * 1024
    assert pv.is_pvmove and pv.active and pv.copy_percent == 25.0 and pv.move_pv == "/dev/sda"
    (move,) = find_moves(vols)
    assert move.mode == "by-segment" and move.source == "/dev/sda" and move.destinations == ("/dev/sdb",)
    assert [m.name for m in move.moved] == ["lv"] and move.dm_name == "vg-pvmove0"


def test_finished_report_has_no_move() -> None:
    vols = parse_lvs((BOOKWORM / "C-rootfs-stock_phase2_final" / "lvs-devices.json").read_text())
    assert find_moves(vols) == [] and not vols[0].locked


def test_by_segment_three_segments_with_log_array() -> None:
    text = _rows(
        {**BASE, "lv_name": "lv1", "lv_uuid": "U1", "lv_attr": "-wI-a-----", "lv_size": "67108864",
         "segtype": "linear", "seg_size_pe": "8", "devices": "pvmove0(0)"},
        {**BASE, "lv_name": "lv1", "lv_uuid": "U1", "lv_attr": "-wI-a-----", "lv_size": "67108864",
         "segtype": "linear", "seg_size_pe": "8", "devices": "pvmove0(16)"},
        {**BASE, "lv_name": "lv2", "lv_uuid": "U2", "lv_attr": "-wI-a-----", "lv_size": "33554432",
         "segtype": "linear", "seg_size_pe": "8", "devices": "pvmove0(8)"},
        {**BASE, "lv_name": "[pvmove0]", "lv_uuid": "P", "lv_attr": "p-C-aom---", "lv_size": "100663296",
         "move_pv": "/dev/sdb", "copy_percent": "33.33", "lv_role": "private,pvmove", "segtype": "mirror",
         "seg_size_pe": "8", "devices": "/dev/sdb(0),/dev/sdc(0)"},
        {**BASE, "lv_name": "[pvmove0]", "lv_uuid": "P", "lv_attr": "p-C-aom---", "lv_size": "100663296",
         "move_pv": "/dev/sdb", "copy_percent": "33.33", "lv_role": "private,pvmove", "segtype": "mirror",
         "seg_size_pe": "16", "devices": "/dev/sdb(8),/dev/sdd(0)"},
        log=True,
    )
    (move,) = find_moves(parse_lvs(text))
    assert move.uuid == "P" and len(move.pvmove.segments) == 2
    assert move.destinations == ("/dev/sdc", "/dev/sdd")
    assert sorted(lv.name for lv in move.moved) == ["lv1", "lv2"]
    assert move.baseline_on_source == {"U1": 0, "U2": 0}


def test_atomic_move_and_inactive() -> None:
    text = _rows(
        {**BASE, "lv_name": "lv", "lv_uuid": "U", "lv_attr": "-wI-------", "lv_active": "", "lv_size": "4m",
         "segtype": "linear", "seg_size_pe": "1", "devices": "pvmove0(0)"},
        {**BASE, "lv_name": "[pvmove0]", "lv_uuid": "P", "lv_attr": "p-C---m---", "lv_active": "",
         "lv_size": "4m", "move_pv": "/dev/sda", "segtype": "mirror", "seg_size_pe": "1",
         "devices": "pvmove0_mimage_0(0),pvmove0_mimage_1(0)"},
        {**BASE, "lv_name": "[pvmove0_mimage_0]", "lv_uuid": "I0", "lv_attr": "-wi-------", "lv_active": "",
         "lv_size": "4m", "segtype": "linear", "seg_size_pe": "1", "devices": "/dev/sda(0)"},
        {**BASE, "lv_name": "[pvmove0_mimage_1]", "lv_uuid": "I1", "lv_attr": "-wi-------", "lv_active": "",
         "lv_size": "4m", "segtype": "linear", "seg_size_pe": "1", "devices": "/dev/sdb(3)"},
    )
    (move,) = find_moves(parse_lvs(text))
    assert move.mode == "atomic" and not move.active and move.pvmove.copy_percent is None
    assert move.source == "/dev/sda" and move.destinations == ("/dev/sdb",)
    assert [lv.name for lv in move.moved] == ["lv"] and move.size == 4 * 1024 * 1024


def test_error_orphan_detected() -> None:
    text = _rows({**BASE, "lv_name": "[pvmove0]", "lv_uuid": "P", "lv_attr": "vwc---v---", "lv_size": "4m",
                  "segtype": "error", "seg_size_pe": "1", "devices": ""})
    (lv,) = parse_lvs(text)
    assert lv.is_error_orphan and not lv.is_pvmove and find_moves([lv]) == []


def test_parse_devices() -> None:
    assert parse_devices("/dev/sda(0),/dev/sdb(12)") == (("/dev/sda", 0), ("/dev/sdb", 12))
    assert parse_devices("") == ()


def test_a_missing_pv_last_written_to_a_name_the_move_now_uses_is_not_the_moves() -> None:
    """Seen on 2.03.31 (machine s8, third boot): pv3 (only lv3 on it) missing, LVM's warning says it was last
    written to /dev/sda, and after the reboot /dev/sda is the move's source. The move has both legs (LVM names
    a missing PV [unknown]), so it waits for nothing; with its destination [unknown] it waits for the VG's
    missing PVs."""
    (move,) = find_moves(parse_lvs((BOOKWORM / "C-rootfs-stock_phase1_mid-pvmove" / "lvs-devices.json").read_text()))
    assert move.source == "/dev/sda"
    unrelated = MissingPv("vg", "rWxZSj-M4wz-pVca-sN9q-mqAH-RCQS-Silwcz", "/dev/sda")
    assert move.waits_for([unrelated]) == ()
    gone = replace(move, destinations=("[unknown]",))
    assert gone.waits_for([unrelated, MissingPv("othervg", "X")]) == (unrelated,)
