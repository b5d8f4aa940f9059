"""The VM harness finds the host's Debian archive in either apt sources format (tests/vm/image.py)."""

from __future__ import annotations

from tests.vm import image

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
