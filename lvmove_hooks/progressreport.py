"""Where the poll phase tells people how far a move is: STATUS= for `systemctl status`, progress lines in the
journal, and /run/lvmove/<instance>.json (rate and ETA for `lvmove status`/`watch`, and the Prometheus file)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lvmove_hooks import journal, statefile
from lvmove_hooks.dmstatus import Progress
from lvmove_hooks.model import Move
from lvmove_hooks.progress import RateMeter, eta, human_bytes, status_line
from lvmove_hooks.rangejob import Share

NOTIFY_SECONDS = 2.0  # STATUS= at most this often
STATE_SECONDS = 10.0  # the progress file at most this often
JOURNAL_STEP = 5.0  # a journal line at least every progress_interval, and at every JOURNAL_STEP percent
JOURNAL_MIN_SECONDS = 2.0  # ... but not more often than this


@dataclass
class ProgressReporter:
    fields: journal.MoveFields
    progress_interval: float
    meter: RateMeter = field(default_factory=RateMeter)
    last_notify: float = -1e9
    last_state: float = -1e9
    last_journal: float = 0.0
    last_journal_percent: float = -100.0
    share: Share | None = None  # the range job the move is part of: its progress is the job's

    def report(self, move: Move, prog: Progress, now: float, poller: str, polled_by: int | None) -> None:
        """One kernel reading. `poller`: who polls ("lvmove", or the other process described); `polled_by`: its
        pid when it is not lvmove's own."""
        size = move.size or prog.total * 512
        done = size * prog.percent / 100.0
        self.meter.add(now, done)
        if now - self.last_notify < NOTIFY_SECONDS:
            return  # told a moment ago: keep the tick cheap
        rate = self.meter.rate()
        job = self.share
        shown, shown_size = (done, size) if job is None else (job.before + done, max(job.total, job.before + size))
        remaining = eta(shown, shown_size, rate)
        line = status_line(str(move.ref), 100.0 * shown / shown_size if shown_size else prog.percent, shown,
                           shown_size, remaining)
        if job is not None:
            line += f" (in ranges; this range {prog.percent:.1f}%)"
        if polled_by is not None:
            line += f" (polled by pid {polled_by})"
        self.last_notify = now
        journal.notify(f"STATUS={line}")
        if now - self.last_state >= STATE_SECONDS:
            self.last_state = now
            statefile.write(move.ref.instance, {
                "vg": move.ref.vg, "lv": move.ref.lv, "uuid": move.uuid, "percent": round(prog.percent, 2),
                "done_bytes": int(done), "size_bytes": size, "rate_bytes_per_s": rate,
                "eta_seconds": remaining, "poller": poller,
                **({} if job is None else {"job_done_bytes": int(shown), "job_size_bytes": shown_size}),
            })
        if now - self.last_journal >= self.progress_interval or (
            prog.percent - self.last_journal_percent >= JOURNAL_STEP and now - self.last_journal >= JOURNAL_MIN_SECONDS
        ):
            self.last_journal = now
            self.last_journal_percent = prog.percent
            extra = f", {human_bytes(rate)}/s" if rate else ""
            journal.event("progress", line + extra, self.fields, prog.percent)
