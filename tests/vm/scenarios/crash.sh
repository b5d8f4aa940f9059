#!/bin/bash
# Crash mid-move and reboot: lvmove must resume and finish the move by itself.
# scenario.env: MOVE_ARGS (e.g. --atomic), LVMCONF_SET, MOVE_BPS, CRASH_AT (percent),
# KILL_STOP=1 (scenario 8: SIGKILL and stop the unit mid-move), ABORT_ATOMIC=1 (scenario 4b),
# UNTHROTTLE_WHEN_RUNNING=1 (lift the host throttle once progress was seen).
. "$SHARE/lib.sh"
. "$SHARE/setup.sh"
MOVE_ARGS=${MOVE_ARGS:-} LVMCONF_SET=${LVMCONF_SET:-} MOVE_BPS=${MOVE_BPS:-2097152} CRASH_AT=${CRASH_AT:-45}
UNIT=$(unit_of "$VG/pvmove0")
begin
if [ "$PHASE" = 1 ]; then
    install_lvmove
    [ -z "$LVMCONF_SET" ] || lvm_conf_set $LVMCONF_SET
    setup_vg 2
    req throttle "$MOVE_BPS"
    # shellcheck disable=SC2086
    cmd pvmove -b -i 2 $MOVE_ARGS "$(pvdev 1)" "$(pvdev 2)" || die "pvmove"
    wait_percent "$VG" pvmove0 "$CRASH_AT" 180 || die "move did not reach $CRASH_AT%"
    # A capture takes 10-40 s while the copy goes on: only on request, so the crash lands where asked.
    [ "${CAPTURE_PHASE1:-0}" = 1 ] && capture "${CAPTURE_NAME:-crash}-phase1-mid"
    journalctl --sync
    sync
    mark READY-TO-CRASH
    sleep 600
    exit 1
fi

# ---- phase 2: after the crash ----
# How long the boot took to reach this runner (a multi-user service) with the move in flight: an initramfs
# that polls the move can hold the boot (s7), one that only activates (lvmove's hook, s3) does not.
booted=$(cut -d' ' -f1 /proc/uptime)
echo "$booted" > "$OUT/boot-to-runner.txt"
check_pass boot-to-runner "${booted}s"
if [ "${EXPECT_NO_INITRAMFS_POLLER:-0}" = 1 ]; then
    # The initramfs ran no LVM poller: no LVM process of the initramfs (init.scope) is left after switch-root.
    left=$(ps -eo pid=,unit=,args= | awk '$2 == "init.scope" && $3 ~ /lvm|vgchange/' | head -3)
    if [ -n "$left" ]; then check_fail no-initramfs-poller "$left"; else check_pass no-initramfs-poller; fi
fi
capture "${CAPTURE_NAME:-crash}-after-boot"
ls -l "/dev/$VG" "/dev/mapper" > "$OUT/dev-after-boot.txt" 2>&1
if wait_unit_active "$UNIT" "$VG" 240; then check_pass unit-started-by-itself "$UNIT"
else check_fail unit-started-by-itself "$UNIT state=$(unit_state "$UNIT")"; fi
sample_progress "$VG" pvmove0 "$UNIT" 6
check status-follows-lvs status_follows_lvs "$VG" pvmove0 "$UNIT"
[ "${UNTHROTTLE_WHEN_RUNNING:-0}" = 1 ] && req throttle 0

if [ "${KILL_STOP:-0}" = 1 ]; then
    . "$SHARE/killstop.sh"
    kill_and_stop_unit
fi

sample_progress "$VG" pvmove0 "$UNIT" 600
if wait_no_pvmove "$VG" 600; then check_pass pvmove-finished; else check_fail pvmove-finished "$(pvmove_lvs "$VG")"; fi
wait_unit_inactive "$UNIT" 120
req throttle 0
capture "${CAPTURE_NAME:-crash}-final"
save_unit_journal "$UNIT" unit
if [ "$PROGRESS_SEEN" = 1 ] || unit_has_msg "$UNIT" "$MSG_PROGRESS"; then check_pass unit-reported-progress
else check_fail unit-reported-progress "no % in StatusText, no progress journal entry"; fi
check unit-journal-started unit_has_msg "$UNIT" "$MSG_STARTED"
check unit-journal-completed unit_has_msg "$UNIT" "$MSG_COMPLETED"
# How the unit polled (LVMOVE_POLL_MODE, LVMOVE_POLLER_WAKES on its completion entry).
journalctl -b -u "$UNIT" -o export --no-pager | grep -aE '^LVMOVE_(POLL_MODE|POLLER_WAKES|LVPOLL_RUNS|LVM_COMMANDS|DM_EVENTS|DM_EVENTS_OK)=' \
    > "$OUT/poll-mode.txt"
log "poll mode: $(tr '\n' ' ' < "$OUT/poll-mode.txt")"
if [ "${EXPECT_WARM:-0}" = 1 ]; then
    # Without lvmpolld nothing else polls after the reboot: lvmove's warm poller must have carried the move.
    check warm-poller-woken grep -qE '^LVMOVE_POLLER_WAKES=[1-9]' "$OUT/poll-mode.txt"
fi
# Failures other than those scenario 8 causes on purpose count: our SIGKILL ('signal') and our
# `systemctl stop` (lvmove exits 75, "interrupted, will resume", which systemd records as 'exit-code').
failures=$(journalctl -b -u "$UNIT" -o cat --no-pager | grep "Failed with result" | grep -v "result 'signal'")
if [ "${KILL_STOP:-0}" = 1 ] && journalctl -b -u "$UNIT" -o cat --no-pager | grep -q "status=75/"; then
    failures=$(echo "$failures" | grep -v "result 'exit-code'" | sed '/^$/d')
fi
if [ -n "$failures" ]; then check_fail unit-never-failed "$(echo "$failures" | head -3 | tr '\n' ';')"
else check_pass unit-never-failed; fi
check lvs-off-source test -z "$(lvs --readonly --noheadings -o devices "$VG" | grep -F "$(pvdev 1)")"
check dev-links test -e "/dev/$VG/lv1" -a -e "/dev/$VG/lv2" -a -e "/dev/mapper/$VG-lv1" -a -e "/dev/mapper/$VG-lv2"
verify_sums "$VG" lv1 lv2
check_vgck "$VG"
journalctl -b -1 -o short-monotonic --no-pager > "$OUT/journal-boot1-full.txt" 2>&1
journalctl -b 0 -o short-monotonic --no-pager > "$OUT/journal-boot2-full.txt" 2>&1
dmesg > "$OUT/dmesg-boot2.txt" 2>&1
if [ "${EXPECT_INITRAMFS_ACTIVATION:-0}" = 1 ]; then
    # The VG was activated in the initramfs: device-mapper was loaded before systemd (after switch-root) began.
    dm_t=$(grep -m1 'device-mapper: ioctl' "$OUT/dmesg-boot2.txt" | sed 's/^\[ *\([0-9.]*\)\].*/\1/')
    sd_t=$(grep -m1 'systemd\[1\]: systemd [0-9]' "$OUT/dmesg-boot2.txt" | sed 's/^\[ *\([0-9.]*\)\].*/\1/')
    log "device-mapper loaded at ${dm_t:-?}s, systemd started at ${sd_t:-?}s"
    check vg-activated-in-initramfs python3 -c "import sys; sys.exit(0 if float('${dm_t:-1e9}') < float('${sd_t:-0}') else 1)"
fi

if [ "${ABORT_ATOMIC:-0}" = 1 ]; then
    # Scenario 4b: a new --atomic move (through `lvmove move`), aborted half-way: all back on the source.
    req throttle 1048576
    cmd lvmove move --atomic "$(pvdev 2)" "$(pvdev 1)" > "$OUT/lvmove-move.txt" 2>&1 || check_fail lvmove-move "rc=$?"
    cat "$OUT/lvmove-move.txt"
    wait_percent "$VG" pvmove0 30 120 || check_fail atomic-abort-progress "never reached 30%"
    capture "${CAPTURE_NAME:-crash}-atomic2-mid"
    lvmove abort "$VG/pvmove0" > "$OUT/lvmove-abort.txt" 2>&1; rc=$?
    cat "$OUT/lvmove-abort.txt"
    check atomic-abort-rc test "$rc" = 0
    req throttle 0
    if wait_no_pvmove "$VG" 120; then check_pass atomic-abort-pvmove-gone; else check_fail atomic-abort-pvmove-gone; fi
    capture "${CAPTURE_NAME:-crash}-atomic2-aborted"
    check atomic-abort-all-on-source test -z "$(lvs --readonly --noheadings -o devices "$VG" | grep -F "$(pvdev 1)")"
    verify_sums "$VG" lv1 lv2
    check_vgck "$VG"
fi
# A VG that is gone (removed, renamed, never there) is "nothing to do" on every generation: LVM >= 2.03.26 puts
# its "not found" into the JSON report's log on stdout, older LVM on stderr (issue 11, point 1).
gone=lvmove-gone-vg-$$
lvmove run "$gone/pvmove0" > "$OUT/run-gone-vg.txt" 2>&1; rc=$?
log "lvmove run $gone/pvmove0: rc=$rc $(tr '\n' ' ' < "$OUT/run-gone-vg.txt")"
if [ "$rc" = 0 ] && grep -q "nothing to do" "$OUT/run-gone-vg.txt"; then check_pass run-gone-vg "rc=0"
else check_fail run-gone-vg "rc=$rc $(head -c 200 "$OUT/run-gone-vg.txt")"; fi
check_nothing_broken "$VG"
exit 0
