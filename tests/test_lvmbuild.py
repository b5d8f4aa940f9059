"""The pure parts of tests/vm/lvmbuild.py: source lookup and verification, the cache key, configure's output."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.vm import lvmbuild
from tests.vm.hostcmd import HostCommandError

SHA_A = "a" * 64


def write_sources(root: Path, files: dict[str, bytes], *, listed: dict[str, str] | None = None) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (root / name).write_bytes(data)
    sums = listed if listed is not None else {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
    (root / "SHA256SUMS").write_text("".join(f"{h}  {n}\n" for n, h in sums.items()))


def test_digest_is_stable_and_follows_every_input(monkeypatch: pytest.MonkeyPatch) -> None:
    base = lvmbuild.input_digest(SHA_A)
    assert base == lvmbuild.input_digest(SHA_A)
    assert len(base) == 64
    assert lvmbuild.input_digest("b" * 64) != base
    monkeypatch.setattr(lvmbuild, "CONFIGURE_ARGS", (*lvmbuild.CONFIGURE_ARGS, "--enable-lvmlockd-sanlock"))
    with_arg = lvmbuild.input_digest(SHA_A)
    assert with_arg != base
    monkeypatch.setattr(lvmbuild, "FORMAT_VERSION", lvmbuild.FORMAT_VERSION + "x")
    assert lvmbuild.input_digest(SHA_A) not in (base, with_arg)


def test_digest_separates_fields() -> None:
    """Joining inputs with NUL keeps ("ab", "c") and ("a", "bc") apart."""
    assert lvmbuild.input_digest("x" * 63 + "a") != lvmbuild.input_digest("x" * 64)


def test_configure_line_is_the_documented_one() -> None:
    line = " ".join(lvmbuild.CONFIGURE_ARGS)
    for opt in ("--enable-lvmpolld", "--enable-udev_sync", "--enable-cmdlib", "--with-udevdir=/lib/udev/rules.d",
                "--with-systemdsystemunitdir=/lib/systemd/system", "--sbindir=/sbin"):
        assert opt in line
    assert "kmod" in lvmbuild.BUILD_DEPS


def test_parse_sha256sums_text_and_binary_mode() -> None:
    text = f"{SHA_A}  lvm2-2.03.39.tar.xz\n{'B' * 64} *lvm2-main-d804677.tar.xz\nnot a line\n"
    assert lvmbuild.parse_sha256sums(text) == {
        "lvm2-2.03.39.tar.xz": SHA_A,
        "lvm2-main-d804677.tar.xz": "b" * 64,
    }


def test_tarball_name() -> None:
    have = ["lvm2-2.03.39.tar.xz", "lvm2-main-d804677.tar.xz"]
    assert lvmbuild.tarball_name("2.03.39", have) == "lvm2-2.03.39.tar.xz"
    assert lvmbuild.tarball_name("main", have) == "lvm2-main-d804677.tar.xz"
    with pytest.raises(HostCommandError, match="no single"):
        lvmbuild.tarball_name("2.03.40", have)
    with pytest.raises(HostCommandError, match="no single"):
        lvmbuild.tarball_name("main", [*have, "lvm2-main-0000000.tar.xz"])
    with pytest.raises(HostCommandError, match="not a release"):
        lvmbuild.tarball_name("../etc", have)


def test_find_source_verifies_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LVMOVE_VM_LVM_SRC", str(tmp_path / "src"))
    write_sources(tmp_path / "src", {"lvm2-main-d804677.tar.xz": b"main tree"})
    source = lvmbuild.find_source("main")
    assert source.tarball == tmp_path / "src" / "lvm2-main-d804677.tar.xz"
    assert source.sha256 == hashlib.sha256(b"main tree").hexdigest()

    write_sources(tmp_path / "bad", {"lvm2-2.03.39.tar.xz": b"tampered"}, listed={"lvm2-2.03.39.tar.xz": SHA_A})
    monkeypatch.setenv("LVMOVE_VM_LVM_SRC", str(tmp_path / "bad"))
    with pytest.raises(HostCommandError, match="does not match"):
        lvmbuild.find_source("2.03.39")

    write_sources(tmp_path / "unlisted", {"lvm2-2.03.39.tar.xz": b"x"}, listed={})
    monkeypatch.setenv("LVMOVE_VM_LVM_SRC", str(tmp_path / "unlisted"))
    with pytest.raises(HostCommandError, match="not listed"):
        lvmbuild.find_source("2.03.39")


def test_tree_lives_in_the_cache_by_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LVMOVE_VM_CACHE", str(tmp_path / "cache"))
    tree = lvmbuild.tree_for(lvmbuild.LvmSource("2.03.39", tmp_path / "t.tar.xz", SHA_A))
    digest = lvmbuild.input_digest(SHA_A)
    assert tree.directory == tmp_path / "cache" / f"lvm2-2.03.39-{digest[:16]}"
    assert tree.tarball == tree.directory / "lvm2.tar"
    assert tree.tag == f"2.03.39-{digest[:16]}"
    assert not lvmbuild.is_built(tree)
    tree.directory.mkdir(parents=True)
    for name in ("lvm2.tar", "DONE"):
        (tree.directory / name).write_text("x")
    (tree.directory / "VERSION").write_text("2.03.39(2) (2026-03-13)\n")
    assert lvmbuild.is_built(tree)
    assert tree.short_version == "2.03.39(2)"


def test_modprobe_found() -> None:
    assert lvmbuild.modprobe_found("checking for cmirrord...\nchecking for modprobe... /usr/sbin/modprobe\n")
    assert not lvmbuild.modprobe_found("checking for modprobe... no\n")
    assert not lvmbuild.modprobe_found("nothing about it\n")


def test_selection_and_generation_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LVMOVE_VM_LVM", raising=False)
    assert lvmbuild.selected() is None
    monkeypatch.setenv("LVMOVE_VM_LVM", "")
    assert lvmbuild.selected() is None
    monkeypatch.setenv("LVMOVE_VM_LVM", "2.03.39")
    assert lvmbuild.selected() == "2.03.39"
    assert lvmbuild.generation("bookworm", "2.03.39") == "bookworm+2.03.39"
    assert lvmbuild.generation("trixie", None) == "trixie"
