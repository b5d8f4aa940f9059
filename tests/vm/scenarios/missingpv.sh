#!/bin/bash
# The destination PV's disk is missing when the machine comes back after a crash mid-move, then returns.
# lvmove must change nothing while it is gone (no activation, partial or not; no failed unit), say which PV
# the move waits for (PV UUID and last device) in `lvmove status`, refuse `lvmove start` with that reason,
# and finish the move by itself once the disk is plugged in again (boots 1-2).
# Boots 2-3: an unrelated PV of the VG (pv3, holding only lv3) is missing when the machine comes back after a
# crash mid-move; the admin activates what is there (`vgchange -ay --activationmode partial --poll n`: nothing
# of LVM polls then); lvmove's unit, started by udev, finishes the move with `lvpoll --handlemissingpvs` (LVM's
# `pvmove` refuses a VG with a PV missing), and once the disk is back every LV, lv3 included, is unchanged.
. "$SHARE/lib.sh"
. "$SHARE/setup.sh"
MOVE_BPS=${MOVE_BPS:-2097152} CRASH_AT=${CRASH_AT:-40}
UNIT=$(unit_of "$VG/pvmove0")
# move_and_crash FROM TO: pvmove (lvmpolld) from disk FROM to disk TO, crashed by the host at CRASH_AT %.
move_and_crash() {
    req throttle "$MOVE_BPS"
    cmd pvmove -b -i 2 "$(pvdev "$1")" "$(pvdev "$2")" || die "pvmove pv$1 -> pv$2"
    wait_percent "$VG" pvmove0 "$CRASH_AT" 180 || die "move pv$1 -> pv$2 did not reach $CRASH_AT%"
    journalctl --sync
    sync
    mark READY-TO-CRASH
    sleep 600
    exit 1
}
begin
if [ "$PHASE" = 1 ]; then
    install_lvmove
    setup_vg 3
    cmd lvcreate -q -y -n lv3 -L 8M "$VG" "$(pvdev 3)" || die "lvcreate lv3"
    fill_lvs "$VG" lv1 lv2 lv3
    pvs --noheadings -o pv_uuid "$(pvdev 2)" | tr -d ' ' > "$OUT/dest-pv-uuid.txt"
    pvdev 2 > "$OUT/dest-pv-dev.txt"
    move_and_crash 1 2
fi

if [ "$PHASE" = 3 ]; then
    # ---- phase 3: booted without pv3, which the move does not use ----
    udevadm settle -t 60
    wait_pvdevs 2
    sleep 5
    pvdev 3 > /dev/null && die "disk 3 is there: the host did not leave it out"
    dmsetup ls > "$OUT/u-dm-at-boot.txt" 2>&1
    note u-at-boot "dm devices of $VG: $(grep -c "^$VG-" "$OUT/u-dm-at-boot.txt") (an incomplete VG is not autoactivated)"
    lvmove status --json > "$OUT/u-status-before.json" 2> "$OUT/u-status-before.err"; rc=$?
    cat "$OUT/u-status-before.json"
    check u-status-lists-the-move python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); sys.exit(0 if len(v["moves"]) == 1 else 1)' "$OUT/u-status-before.json"
    # The reason names what kept the VG down (the missing pv3) and the partial activation, not "autoactivation off?".
    check u-status-names-the-incomplete-vg python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["moves"][0]["attention"] or {}; sys.exit(0 if "is incomplete" in a.get("reason", "") and "--activationmode partial" in a.get("fix", "") else 1)' "$OUT/u-status-before.json"
    # What an admin does with a VG short of a disk that holds nothing the move needs: activate what is there.
    vgchange -ay --activationmode partial --poll n "$VG" > "$OUT/u-vgchange.txt" 2>&1; rc=$?
    cat "$OUT/u-vgchange.txt"
    log "vgchange -ay --activationmode partial --poll n: rc=$rc"
    check u-pvmove-activated test -e "/dev/mapper/$(dm_name "$VG" pvmove0)"
    if wait_unit_active "$UNIT" "$VG" 120; then check_pass u-unit-started-by-itself "$UNIT"
    else check_fail u-unit-started-by-itself "$UNIT state=$(unit_state "$UNIT")"; fi
    req throttle 0
    if wait_no_pvmove "$VG" 300; then check_pass u-pvmove-finished; else check_fail u-pvmove-finished "$(pvmove_lvs "$VG")"; fi
    wait_unit_inactive "$UNIT" 60
    save_unit_journal "$UNIT" u-unit
    journalctl -b -u "$UNIT" -o export --no-pager | grep -aE '^LVMOVE_(POLL_MODE|POLLER_WAKES|LVPOLL_RUNS)=' > "$OUT/u-poll-mode.txt"
    log "poll mode: $(tr '\n' ' ' < "$OUT/u-poll-mode.txt")"
    check u-unit-completed unit_has_msg "$UNIT" "$MSG_COMPLETED"
    check u-polled-by-lvpoll grep -qE '^LVMOVE_LVPOLL_RUNS=[1-9]' "$OUT/u-poll-mode.txt"
    check u-unit-never-failed test -z "$(journalctl -b -u "$UNIT" -o cat --no-pager | grep 'Failed with result')"
    check u-off-source test -z "$(lvs --readonly --noheadings -o devices "$VG/lv1" "$VG/lv2" | grep -F "$(pvdev 2)")"
    # ---- the disk comes back: LVM wrote the VG while pv3 was missing, so it is flagged missing until the
    # admin restores it (vgextend --restoremissing); then lv3 is activated on it again ----
    cmd lvchange -an "$VG/lv3" || check_fail u-lv3-deactivate
    req attach 3
    wait_pvdevs 3
    udevadm settle -t 60
    pvs -o pv_name,pv_attr,pv_missing "$VG" > "$OUT/u-pvs-returned.txt" 2>&1
    cat "$OUT/u-pvs-returned.txt"
    vgextend --restoremissing "$VG" "$(pvdev 3)" > "$OUT/u-restoremissing.txt" 2>&1; rc=$?
    cat "$OUT/u-restoremissing.txt"
    log "vgextend --restoremissing: rc=$rc"
    cmd lvchange -ay "$VG/lv3" || check_fail u-lv3-activate
    lvmove status --json > "$OUT/u-status-after.json" 2>&1; rc=$?
    check u-status-clean-after test "$rc" = 0
    verify_sums "$VG" lv1 lv2 lv3
    check_vgck "$VG"
    journalctl -b 0 -o short-monotonic --no-pager > "$OUT/journal-boot3-full.txt" 2>&1
    check_nothing_broken "$VG"
    exit 0
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
wait_pvdevs 3
if wait_unit_active "$UNIT" "$VG" 240; then check_pass unit-started-when-disk-returned "$UNIT"
else check_fail unit-started-when-disk-returned "$UNIT state=$(unit_state "$UNIT")"; fi
# The copy is let go only once the unit says it carries the move: on a starved guest (three on the host) the
# unit's body read the VG 35 s after systemd started it, and lvmpolld had finished the unthrottled copy
# by then ("nothing to do: vg/pvmove0 is gone (LVM finished the move)", no "completed" to check).
wait_unit_says "$UNIT" carrying 120 || log "$UNIT said nothing of carrying the move in 120 s"
req throttle 0
if wait_no_pvmove "$VG" 300; then check_pass pvmove-finished; else check_fail pvmove-finished; fi
wait_unit_inactive "$UNIT" 60
check unit-journal-completed journalctl -b -u "$UNIT" -o cat --no-pager --grep "completed"
check lvs-off-source test -z "$(lvs --readonly --noheadings -o devices "$VG" | grep -F "$(pvdev 1)")"
verify_sums "$VG" lv1 lv2 lv3
check_vgck "$VG"
journalctl -b 0 -o short-monotonic --no-pager > "$OUT/journal-boot2-full.txt" 2>&1
check_nothing_broken "$VG"

# ---- a second move (back to pv1), crashed; the next boot is without pv3 (phase 3) ----
move_and_crash 2 1
