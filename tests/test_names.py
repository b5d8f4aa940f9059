import shutil
import subprocess

import pytest

from lvmove_hooks.errors import BadInput
from lvmove_hooks.names import (
    LvRef,
    dm_join,
    dm_split,
    escape_instance,
    instance_from_unit,
    name_problem,
    parse_lvref,
    unescape_instance,
)

ESCAPES = [
    ("vg/pvmove0", "vg-pvmove0"),
    ("my-vg/pvmove0", "my\\x2dvg-pvmove0"),
    ("vg+x/pvmove1", "vg\\x2bx-pvmove1"),
    ("v.g_1/pvmove12", "v.g_1-pvmove12"),
    (".hidden/pvmove0", "\\x2ehidden-pvmove0"),
    ("a--b/pvmove0", "a\\x2d\\x2db-pvmove0"),
]


@pytest.mark.parametrize(("text", "instance"), ESCAPES)
def test_escape_roundtrip(text: str, instance: str) -> None:
    assert escape_instance(text) == instance
    assert unescape_instance(instance) == text


@pytest.mark.skipif(shutil.which("systemd-escape") is None, reason="systemd-escape not installed")
@pytest.mark.parametrize(("text", "instance"), ESCAPES)
def test_escape_matches_systemd_escape(text: str, instance: str) -> None:
    out = subprocess.run(["systemd-escape", text], capture_output=True, text=True, check=True).stdout.strip()
    assert escape_instance(text) == out
    unit = subprocess.run(
        ["systemd-escape", "--template=lvmove@.service", text], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert LvRef(*text.split("/")).unit == unit


@pytest.mark.parametrize(
    ("vg", "lv", "dm"),
    [("vg", "pvmove0", "vg-pvmove0"), ("my-vg", "pvmove0", "my--vg-pvmove0"), ("a-b-c", "x-y", "a--b--c-x--y")],
)
def test_dm_names(vg: str, lv: str, dm: str) -> None:
    assert dm_join(vg, lv) == dm
    assert dm_split(dm) == (vg, lv, "")


def test_dm_split_layer() -> None:
    assert dm_split("vg-pvmove0_mimage_0") == ("vg", "pvmove0_mimage_0", "")
    assert dm_split("vg-lv-real") == ("vg", "lv", "real")
    with pytest.raises(BadInput):
        dm_split("novg")


@pytest.mark.parametrize(
    ("name", "ok"),
    [("vg0", True), ("data-vg", True), ("a+b_c.d", True), ("", False), ("-x", False), (".", False),
     ("..", False), ("a/b", False), ("a b", False), ("x;rm", False), ("é", False), ("a" * 128, False),
     ("a" * 127, True)],
)
def test_name_rules(name: str, ok: bool) -> None:
    assert (name_problem(name) is None) is ok


def test_parse_lvref() -> None:
    assert parse_lvref("vg/pvmove0") == LvRef("vg", "pvmove0")
    assert parse_lvref("/dev/vg/pvmove3") == LvRef("vg", "pvmove3")
    assert parse_lvref("vg/[pvmove0]") == LvRef("vg", "pvmove0")
    for bad in ("vg", "vg/lv", "vg/pvmove", "vg/pvmove0x", "../pvmove0", "vg/pvmove0/x", "v g/pvmove0"):
        with pytest.raises(BadInput):
            parse_lvref(bad)


def test_instance_from_unit() -> None:
    assert instance_from_unit("lvmove@vg-pvmove0.service") == "vg-pvmove0"
    assert instance_from_unit("vg-pvmove0") == "vg-pvmove0"
