"""lvmove@.service(8) and lvmove-generator(8) against the code: journal fields and events, exit codes, the
unit's state while it runs, the requirements DISTROS.md and the packages state."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAN = ROOT / "docs" / "man"
UNIT = ROOT / "units" / "lvmove@.service"


def section(page: str, name: str) -> str:
    """One section of a man page as plain text (requests and escapes dropped, whitespace joined)."""
    text = (MAN / page).read_text()
    start = text.index(f".SH {name}\n")
    end = text.find("\n.SH ", start + 1)
    body = text[start:end if end > 0 else None]
    body = re.sub(r"^\.\w+ ?", "", body, flags=re.M)
    body = body.replace("\\%", "").replace("\\-", "-").replace("\\(aq", "'").replace("\\fR", "").replace("\\fP", "")
    return " ".join(body.replace('"', " ").split())


def journal_fields_in_code() -> set[str]:
    """Every LVMOVE_* journal field lvmove_hooks sends: dict keys and fields[...] assignments."""
    found: set[str] = set()
    for path in (ROOT / "lvmove_hooks").glob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r'"(LVMOVE_[A-Z_]+)":', text))
        found |= set(re.findall(r'fields\["(LVMOVE_[A-Z_]+)"\]', text))
    return found


def test_journal_section_documents_every_field_and_event() -> None:
    from lvmove_hooks.journal import MESSAGE_IDS

    text = section("lvmove@.service.8", "JOURNAL")
    fields = journal_fields_in_code()
    assert {"LVMOVE_POLL_MODE", "LVMOVE_POLLER_WAKES", "LVMOVE_LVM_COMMANDS"} <= fields  # the scan finds them
    missing = sorted(f for f in fields if not re.search(rf"\b{f}\b", text))
    assert not missing, f"journal fields missing from JOURNAL in lvmove@.service(8): {missing}"
    for kind, message_id in MESSAGE_IDS.items():
        assert re.search(rf"\b{re.escape(kind)} {message_id}\b", text), (kind, message_id)
    # the poll modes the completion entry can carry (pollrules.Mode, LVMOVE_POLL_MODE)
    from lvmove_hooks.pollrules import Mode

    modes = {m.value for m in Mode}
    assert modes == {"warm", "lvpoll-per-segment", "interval", "watched"}
    assert all(re.search(rf"\b{m}\b", text) for m in modes), modes


def test_exit_status_lists_only_codes_of_the_one_table() -> None:
    from lvmove_hooks.errors import CODES, Exit

    text = (MAN / "lvmove@.service.8").read_text()
    body = text[text.index(".SH EXIT STATUS"):text.index(".SH JOURNAL")]
    listed = [int(c) for c in re.findall(r"^\.TP\n\.B (\d+)\n", body, re.M)]
    known = {code for code, _ in CODES}
    assert listed and set(listed) <= known, set(listed) - known
    assert listed == sorted(listed)
    # what `lvmove run` can end with (service/cli raise these), and only those
    assert set(listed) == {Exit.OK, Exit.COMMAND_FAILED, Exit.BAD_INPUT, Exit.VERIFY_FAILED, Exit.DEGRADED,
                           Exit.INTERRUPTED, Exit.NEEDS_ROOT, Exit.BAD_CONFIG}
    # systemd's own names for the codes that have one
    names = {1: "FAILURE", 2: "INVALIDARGUMENT", 74: "IOERR", 75: "TEMPFAIL", 77: "NOPERM", 78: "CONFIG"}
    for code, name in names.items():
        assert re.search(rf"^\.B {code}\n{name}\b", body, re.M), (code, name)
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(UNIT.read_text())
    assert parser["Service"]["SuccessExitStatus"] == str(Exit.INTERRUPTED)


def test_unit_state_and_manual_start_are_described_as_they_are() -> None:
    text = section("lvmove@.service.8", "DESCRIPTION") + " " + section("lvmove@.service.8", "WHAT STARTS IT")
    assert "activating" in text and "never active" in text
    assert "active while the move runs" not in text
    assert "same as systemctl start" not in text.replace("not the same as systemctl start", "")
    assert "--no-block" in text and "auto_resume: false" in text
    # what cli.py does: the manual-start flag before the start, and the check after it
    cli = (ROOT / "lvmove_hooks" / "cli.py").read_text()
    start = cli[cli.index("def _start("):cli.index("def cmd_pause(")]
    assert start.index("set_flag(statefile.MANUAL_FLAG") < start.index("units.start(") < start.index("confirm_running(")
    units = (ROOT / "lvmove_hooks" / "units.py").read_text()
    assert '"--no-block", "start"' in units


def test_requirements_agree_everywhere() -> None:
    distros = " ".join((ROOT / "DISTROS.md").read_text().split())
    readme = " ".join((ROOT / "README.md").read_text().split())
    for text in (distros, readme):
        assert "Python >= 3.11" in text and "systemd >= 245" in text and "239" in text
    assert "X-Python3-Version: >= 3.11" in (ROOT / "packaging/debian/control").read_text()
    assert "systemd (>= 245)" in (ROOT / "packaging/debian/control").read_text()
    assert re.search(r"^Requires:\s+systemd >= 245$", (ROOT / "packaging/rpm/lvmove.spec").read_text(), re.M)
    assert 'requires-python = ">=3.11"' in (ROOT / "pyproject.toml").read_text().replace(" ", "").replace(
        "requires-python=", 'requires-python = ')
    text = section("lvmove@.service.8", "DESCRIPTION")
    assert "systemd 245 or later" in text


def test_distros_says_what_the_rule_calls() -> None:
    rule = (ROOT / "udev-rules" / "96-lvmove.rules").read_text()
    runs = re.findall(r'(?:RUN\+?|PROGRAM)="(/\S+)', rule)
    assert runs and "/usr/bin/lvmove" not in runs
    distros = " ".join((ROOT / "DISTROS.md").read_text().split())
    assert "the udev rule calls no lvmove command" in distros
    for program in set(runs):
        assert program in distros, program
