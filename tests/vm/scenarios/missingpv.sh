#!/bin/bash
# The destination PV's disk is missing when the machine comes back after a crash mid-move, then returns.
# lvmove must change nothing while it is gone (no activation, partial or not; no failed unit), say which PV
# the move waits for (PV UUID and last device) in `lvmove status`, refuse `lvmove start` with that reason,
# and finish the move by itself once the disk is plugged in again.
. "$SHARE/lib.sh"
. "$SHARE/setup.sh"
MOVE_BPS=${MOVE_BPS:-2097152} CRASH_AT=${CRASH_AT:-40}
UNIT=$(unit_of "$VG/pvmove0")
begin
if [ "$PHASE" = 1 ]; then
    install_lvmove
    setup_vg 2
    pvs --noheadings -o pv_uuid "$(pvdev 2)" | tr -d ' ' > "$OUT/dest-pv-uuid.txt"
    pvdev 2 > "$OUT/dest-pv-dev.txt"
    req throttle "$MOVE_BPS"
    cmd pvmove -b -i 2 "$(pvdev 1)" "$(pvdev 2)" || die "pvmove"
    wait_percent "$VG" pvmove0 "$CRASH_AT" 180 || die "move did not reach $CRASH_AT%"
    journalctl --sync
    sync
    mark READY-TO-CRASH
    sleep 600
    exit 1
fi

# ---- phase 2: booted without the destination's disk ----
uuid=$(cat "$OUT/dest-pv-uuid.txt") dest=$(cat "$OUT/dest-pv-dev.txt")
udevadm settle -t 60
sleep 5
pvdev 2 > /dev/null && die "disk 2 is there: the host did not leave it out"
check nothing-activated test -z "$(dmsetup ls 2>/dev/null | grep "^$VG-")"
lvmove status --json > "$OUT/status-waiting.json" 2> "$OUT/status-waiting.err"; rc=$?
cat "$OUT/status-waiting.json"
check status-exit-attention test "$rc" = 10
check status-names-the-pv python3 - "$OUT/status-waiting.json" "$uuid" "$dest" <<'PY'
import json, sys
view = json.load(open(sys.argv[1]))
(move,) = view["moves"]
reason = move["attention"]["reason"]
sys.exit(0 if f"PV {sys.argv[2]}" in reason and sys.argv[3] in reason and "waiting for" in reason else 1)
PY
lvmove start "$VG/pvmove0" > "$OUT/start-waiting.txt" 2>&1; rc=$?
cat "$OUT/start-waiting.txt"
check start-refuses-while-waiting test "$rc" != 0 -a -n "$(grep -F "$uuid" "$OUT/start-waiting.txt")"
check nothing-activated-after-start test -z "$(dmsetup ls 2>/dev/null | grep "^$VG-")"
check no-failed-unit-while-waiting test -z "$(systemctl --failed --no-legend | grep lvmove)"

# ---- the disk comes back ----
req attach 2
wait_pvdevs 2
if wait_unit_active "$UNIT" "$VG" 240; then check_pass unit-started-when-disk-returned "$UNIT"
else check_fail unit-started-when-disk-returned "$UNIT state=$(unit_state "$UNIT")"; fi
req throttle 0
if wait_no_pvmove "$VG" 300; then check_pass pvmove-finished; else check_fail pvmove-finished; fi
wait_unit_inactive "$UNIT" 60
check unit-journal-completed journalctl -b -u "$UNIT" -o cat --no-pager --grep "completed"
check lvs-off-source test -z "$(lvs --readonly --noheadings -o devices "$VG" | grep -F "$(pvdev 1)")"
verify_sums "$VG" lv1 lv2
check_vgck "$VG"
journalctl -b 0 -o short-monotonic --no-pager > "$OUT/journal-boot2-full.txt" 2>&1
check_nothing_broken "$VG"
