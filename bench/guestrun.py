"""Boot one Debian guest for a benchmark: the suite's image, lvmove's .deb, a guest script and its helper files
in the share; the script writes JSON lines to out/bench.jsonl, which come back as records (the first one says
which guest and LVM they are from)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def run_script(suite: str, script: Path, *, tag: str, pv_count: int, env: dict[str, str], keep: bool = False,
               files: Sequence[Path] = (), timeout: float = 3600) -> list[dict[str, Any]]:
    from tests.vm.harness import new_run, work_root
    from tests.vm.image import build
    from tests.vm.lvmove_pkg import prepare_payload

    image = build(suite)
    payload = prepare_payload(work_root() / "payload-bench")
    run = new_run("bench", image, bus="scsi", pv_count=pv_count, payload=payload, tag=tag, lvm=None, env=env)
    for path in files:
        shutil.copy2(path, run.guest.share / path.name)
    shutil.copy2(script, run.guest.share / "bench.sh")  # the harness runs <name>.sh
    try:
        run.guest.boot("bench.sh", 1)
        marker = run.guest.drive("RUNNER-END", timeout)
    finally:
        run.close(keep=keep)  # the results are in the share; a slow power-off (100 VGs active) is not waited for
    results = run.out / "bench.jsonl"
    if not results.exists():
        raise SystemExit(f"guest wrote no results ({marker}); see {run.out}")
    failed = run.checks().failed
    if failed:
        print("checks failed in the guest:", "; ".join(failed), file=sys.stderr)
    guest = {"kind": "guest", "suite": suite, "lvm": run.lvm_version(), "checks_failed": failed}
    return [guest] + [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
