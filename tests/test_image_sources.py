"""The VM harness finds the host's Debian archive in either apt sources format (tests/vm/image.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vm import image
from tests.vm.hostcmd import HostCommandError

ONE_LINE = """deb http://mirror.example/debian bookworm main
deb http://mirror.example/debian bookworm-updates main
deb http://security.example/debian-security bookworm-security main
"""
DEB822 = """Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
"""


def test_one_line_sources_as_a_debian_12_installer_writes_them() -> None:
    assert image._uris(ONE_LINE)[0] == "http://mirror.example/debian"
    assert not any("security" in uri for uri in image._uris(ONE_LINE))


def test_deb822_sources_and_options_in_brackets() -> None:
    assert image._uris(DEB822) == ["http://mirror.example/debian"]
    assert image._uris("deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n") == [
        "http://m.example/debian"]
    assert image._uris("# deb http://commented.example/ x main\n") == []


def test_the_archive_is_found_in_any_sources_file(tmp_path: Path) -> None:
    listed = tmp_path / "sources.list.d"
    listed.mkdir()
    with pytest.raises(HostCommandError, match="no Debian archive"):
        image.apt_sources(tmp_path)
    (listed / "nodesource.list").write_text("# deb https://deb.example/node nodistro main\n")  # no archive in it
    (listed / "0000debian.sources").write_text(DEB822)  # as mmdebstrap names it in a new chroot
    assert image.apt_sources(tmp_path) == listed / "0000debian.sources"
    (tmp_path / "sources.list").write_text(ONE_LINE)  # Debian's own names come first
    assert image.apt_sources(tmp_path) == tmp_path / "sources.list"
    (listed / "debian.sources").write_text(DEB822)
    assert image.apt_sources(tmp_path) == listed / "debian.sources"
