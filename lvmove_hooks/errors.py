"""The one exception family of lvmove, with the exit code each kind maps to."""

from __future__ import annotations


class Exit:
    """Exit codes, documented in lvmove(8) and docs/ARCHITECTURE.md (plain ints: the generator imports this
    module at boot and must stay fast)."""

    OK = 0
    COMMAND_FAILED = 1
    BAD_INPUT = 2
    NEEDS_ROOT = 3
    BAD_CONFIG = 4
    ABORTED = 5
    INTERRUPTED = 6
    DEGRADED = 7
    VERIFY_FAILED = 8
    NO_SUCH_MOVE = 9
    ATTENTION = 10  # `lvmove status`: a move is stalled or an orphan LV is left; the output says what to do


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
