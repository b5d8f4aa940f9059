"""Small helpers shared by the fast tests."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
BOOKWORM = FIXTURES / "bookworm-2.03.16"


def fixture(*parts: str) -> str:
    return FIXTURES.joinpath(*parts).read_text()


def device_lines(text: str, dm_name: str) -> str:
    """The lines of a multi-device `dmsetup table/status` dump that belong to one device, name stripped."""
    out = []
    for line in text.splitlines():
        name, _, rest = line.partition(": ")
        if name == dm_name:
            out.append(rest)
    return "\n".join(out) + "\n"
