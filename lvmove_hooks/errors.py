"""The one exception family of lvmove, with the exit code each kind maps to."""

from __future__ import annotations


class Exit:
    """Exit codes: the one source for lvmove(8), `lvmove --help` and the unit (see CODES).

    Codes the unit can end with read right in `systemctl status`, which names 1-7 after LSB init scripts and
    64-78 after BSD sysexits: 1 FAILURE, 2 INVALIDARGUMENT, 74 IOERR, 75 TEMPFAIL, 77 NOPERM, 78 CONFIG; 8-11
    carry no name there. Plain ints: the generator imports this module at boot and must stay fast."""

    OK = 0
    COMMAND_FAILED = 1
    BAD_INPUT = 2
    VERIFY_FAILED = 8
    NO_SUCH_MOVE = 9
    ATTENTION = 10
    ABORTED = 11
    DEGRADED = 74
    INTERRUPTED = 75
    NEEDS_ROOT = 77
    BAD_CONFIG = 78
    SIGINT = 130  # Ctrl-C in an interactive command, as shells report it


CODES: tuple[tuple[int, str], ...] = (
    (Exit.OK, "done, aborted on request, or nothing to do"),
    (Exit.COMMAND_FAILED, "an LVM or system command failed"),
    (Exit.BAD_INPUT, "bad input: usage, or an invalid VG, LV, PV or unit name"),
    (Exit.VERIFY_FAILED, "verification failed: state was left behind after the poll"),
    (Exit.NO_SUCH_MOVE, "no such move"),
    (Exit.ATTENTION, "status: a move is stalled or an orphan LV is left (the output says what to run)"),
    (Exit.ABORTED, "watch, move --wait: the move was aborted"),
    (Exit.DEGRADED, "a mirror leg of the move is degraded (IOERR)"),
    (Exit.INTERRUPTED, "interrupted or deactivated; the next start resumes (TEMPFAIL)"),
    (Exit.NEEDS_ROOT, "needs root (NOPERM)"),
    (Exit.BAD_CONFIG, "bad configuration in lvmove.yaml (CONFIG)"),
    (Exit.SIGINT, "interrupted with Ctrl-C"),
)


def codes_text() -> str:
    """The table as `lvmove --help` prints it."""
    return "exit codes: " + "; ".join(f"{code} {text}" for code, text in CODES) + ". See lvmove(8)."


class LvmoveError(Exception):
    """An expected failure: the CLI prints `lvmove: <message>` and exits with `code`."""

    code: int = Exit.COMMAND_FAILED

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class CommandFailed(LvmoveError):
    code = Exit.COMMAND_FAILED


class BadInput(LvmoveError):
    code = Exit.BAD_INPUT


class NeedsRoot(LvmoveError):
    code = Exit.NEEDS_ROOT


class BadConfig(LvmoveError):
    code = Exit.BAD_CONFIG


class MoveAborted(LvmoveError):
    code = Exit.ABORTED


class Interrupted(LvmoveError):
    code = Exit.INTERRUPTED


class Degraded(LvmoveError):
    code = Exit.DEGRADED


class VerifyFailed(LvmoveError):
    code = Exit.VERIFY_FAILED


class NoSuchMove(LvmoveError):
    code = Exit.NO_SUCH_MOVE
