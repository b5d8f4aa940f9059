import pytest

from lvmove_hooks.errors import BadInput
from lvmove_hooks.names import LvRef
from lvmove_hooks.targets import parse_target


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("vg/pvmove0", LvRef("vg", "pvmove0")),
        ("my-vg/pvmove0", LvRef("my-vg", "pvmove0")),
        ("vg-pvmove0", LvRef("vg", "pvmove0")),
        ("lvmove@vg-pvmove0.service", LvRef("vg", "pvmove0")),
        ("lvmove@my\\x2dvg-pvmove0.service", LvRef("my-vg", "pvmove0")),
        ("my\\x2dvg-pvmove2", LvRef("my-vg", "pvmove2")),
        ("my--vg-pvmove0", LvRef("my-vg", "pvmove0")),
        ("/dev/mapper/my--vg-pvmove0", LvRef("my-vg", "pvmove0")),
        ("/dev/sdb", "/dev/sdb"),
        ("/dev/disk/by-id/scsi-0QEMU_pv1", "/dev/disk/by-id/scsi-0QEMU_pv1"),
        # PVs on LUKS, multipath or another LV live under /dev/mapper: every dm name but vg-pvmoveN is a PV.
        ("/dev/mapper/luks-0f3c2e1a", "/dev/mapper/luks-0f3c2e1a"),
        ("/dev/mapper/mpatha", "/dev/mapper/mpatha"),
        ("/dev/mapper/vg-lv", "/dev/mapper/vg-lv"),
        ("/dev/md/root", "/dev/md/root"),
    ],
)
def test_forms(text: str, expected: object) -> None:
    assert parse_target(text) == expected


@pytest.mark.parametrize("text", ["", "vg", "vg/lv", "../x", "vg-lv", "vg;rm-pvmove0", "/dev/../etc/passwd",
                                  "/dev/", "vg-pvmove0_mimage_0", "a\nb"])
def test_rejects(text: str) -> None:
    with pytest.raises(BadInput):
        parse_target(text)
