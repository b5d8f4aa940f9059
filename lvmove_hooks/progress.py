"""Rate, ETA and the human wording of progress (pure)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

WINDOW_SECONDS = 60.0


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s < 600 else f"{s // 60}m"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


@dataclass
class RateMeter:
    """Bytes per second over a sliding window of (time, bytes done) samples."""

    samples: deque[tuple[float, float]]

    def __init__(self) -> None:
        self.samples = deque()

    def add(self, now: float, done: float) -> None:
        if self.samples and done < self.samples[-1][1]:
            self.samples.clear()  # a resumed copy restarts its segment from 0
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[0][0] > WINDOW_SECONDS:
            self.samples.popleft()

    def rate(self) -> float | None:
        if len(self.samples) < 2:
            return None
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        if t1 - t0 < 1.0:
            return None
        return max(0.0, (d1 - d0) / (t1 - t0))


def eta(done: float, total: float, rate: float | None) -> float | None:
    if rate is None or rate <= 0:
        return None
    return max(0.0, (total - done) / rate)


def status_line(name: str, percent: float, done: float, total: float, eta_s: float | None) -> str:
    text = f"Moving {name}: {percent:.1f}% ({human_bytes(done)} of {human_bytes(total)})"
    if eta_s is not None:
        text += f", ETA {human_duration(eta_s)}"
    return text
