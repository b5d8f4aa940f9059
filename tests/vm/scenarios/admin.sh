#!/bin/bash
# Machine s16, what an admin does around lvmove (issue 10), on real LVM:
#  a. `lvmove move` into a VG lvmove.yaml excludes: LVM's own poller carries it, lvmove's unit carries nothing;
#  b. `lvmove move SRC:PE-range DST --wait`: only that range moves, carried by the unit to its end;
#  c. `lvmove pause` holds against a change uevent of the pvmove device and a daemon-reload (generator);
#     `lvmove resume` carries the move to its end;
#  d. LVM's own forked poller stops making progress (SIGSTOPped in its sleep: as the initramfs's poller that
#     survived switch-root, alive and never checkpointing): lvmove's unit, watching it, takes over beside it
#     (a one-shot lvpoll per segment left in sync) and finishes; the poller, continued, exits by itself;
#  e. a move whose LVs are kept out of autoactivation (`lvchange --setautoactivation n`) crashed mid-way: after
#     the reboot the VG comes up through lv3 (on pv4, never moved), the pvmove LV does not (stock LVM leaves it
#     so); lvmove's VG check finds it and its unit activates and finishes it by policy (activate_inactive).
. "$SHARE/lib.sh"
. "$SHARE/setup.sh"
UNIT=$(unit_of "$VG/pvmove0")
VG_UNIT=$(systemd-escape --template=lvmove-vg@.service "$VG")
PVMOVE_DM=$(dm_name "$VG" pvmove0)
cursor() { journalctl -n 0 --show-cursor --no-pager | sed -n 's/^-- cursor: //p'; }
since() { journalctl --after-cursor="$1" --no-pager -o cat "${@:2}" 2>/dev/null; }   # since CURSOR [journalctl args]
# The lvm processes in this runner's cgroup (a forked poller that `pvmove -b` left), found by what they are.
own_lvm_pids() {
    # `read`, not `cat`: a process per /proc entry took 16 s under TCG with a second guest beside it (sid,
    # 2026-12-03), long enough for the 24 MiB move to end before the poller was caught.
    local cg c p
    read -r cg < /proc/self/cgroup
    for p in /proc/[0-9]*; do
        { read -r c < "$p/cgroup"; } 2>/dev/null || continue   # gone meanwhile
        [ "$c" = "$cg" ] || continue
        case "$(readlink "$p/exe" 2>/dev/null)" in */lvm) echo "${p#/proc/}" ;; esac
    done
}
# Stop PID with SIGSTOP once it is inside its sleep (nanosleep/clock_nanosleep): never while it holds a VG lock.
stop_in_sleep() {
    local pid=$1 end=$((SECONDS + 30)) nr
    while [ "$SECONDS" -lt "$end" ]; do
        nr=$(cut -d' ' -f1 "/proc/$pid/syscall" 2>/dev/null)
        if [ "$nr" = 35 ] || [ "$nr" = 230 ]; then kill -STOP "$pid"; return 0; fi
        sleep 0.05
    done
    return 1
}
used_b() { pvs --readonly --noheadings --units b --nosuffix -o pv_used "$1" | tr -d ' '; }

phase1() {
    install_lvmove
    setup_vg 4
    P1=$(pvdev 1) P2=$(pvdev 2) P3=$(pvdev 3) P4=$(pvdev 4)
    cmd lvcreate -q -y -n lv3 -L 8M "$VG" "$P4" || die lvcreate
    fill_lvs "$VG" lv1 lv2 lv3
    mkdir -p /etc/lvmove

    # ---- a ----
    local c rc
    c=$(cursor)
    echo "exclude: [$VG]" > /etc/lvmove/lvmove.yaml
    req throttle 4194304
    lvmove move "$P1" "$P2" > "$OUT/a-move.txt" 2>&1; rc=$?
    cat "$OUT/a-move.txt"
    check s16a-move-rc test "$rc" = 0
    check s16a-says-lvm-carries grep -q "carried by LVM's own poller" "$OUT/a-move.txt"
    wait_no_pvmove "$VG" 180 && check_pass s16a-finished || check_fail s16a-finished "$(pvmove_lvs "$VG")"
    since "$c" -u 'lvmove@*' > "$OUT/a-unit-journal.txt"
    # udev may start the unit once for the pvmove device; it carries nothing and flags the VG, so the move's
    # later uevents start no more (seen on 2.03.31 before the flag: three starts, each "nothing to do: volume
    # group vg is excluded", ~5 s CPU each under TCG).
    check s16a-unit-never-carried test "$(msgs_since "$c" 'lvmove@*' "$MSG_STARTED")" = 0 \
        -a -z "$(grep -v 'is excluded by\|Starting\|Deactivated\|Finished\|Consumed' "$OUT/a-unit-journal.txt")"
    check s16a-started-at-most-once test "$(grep -c '^Starting' "$OUT/a-unit-journal.txt")" -le 1
    check s16a-off-source test -z "$(lvs --readonly --noheadings -o devices "$VG/lv1" "$VG/lv2" | grep -F "$P1")"
    rm -f /etc/lvmove/lvmove.yaml
    verify_sums "$VG" lv1 lv2 lv3

    # ---- b: extents 0-3 of P2 (16 MiB) ----
    c=$(cursor)
    local before=$(used_b "$P2")
    lvmove move "$P2:0-3" "$P3" --wait > "$OUT/b-move.txt" 2>&1; rc=$?
    cat "$OUT/b-move.txt"
    pvs --readonly --segments -o pv_name,pvseg_start,pvseg_size,lv_name "$P2" "$P3" > "$OUT/b-segments.txt"
    cat "$OUT/b-segments.txt"
    check s16b-move-rc test "$rc" = 0
    check s16b-carried test -z "$(grep 'nothing left to move' "$OUT/b-move.txt")"
    wait_unit_inactive "$UNIT" 60
    check s16b-unit-completed test "$(msgs_since "$c" "$UNIT" "$MSG_COMPLETED")" -ge 1
    check s16b-range-only test "$(used_b "$P3")" = 16777216 -a "$(used_b "$P2")" = $((before - 16777216))
    check s16b-range-freed test -z "$(pvs --readonly --segments --noheadings -o pvseg_start,lv_name "$P2" | awk '$1 == 0 && NF > 1')"

    # ---- c: pause, a uevent, a daemon-reload, resume ----
    req throttle 524288
    c=$(cursor)
    lvmove move "$P2" "$P1" > "$OUT/c-move.txt" 2>&1; rc=$?
    cat "$OUT/c-move.txt"
    check s16c-move-rc test "$rc" = 0
    wait_unit_active "$UNIT" "$VG" 60
    wait_percent "$VG" pvmove0 10 120
    lvmove pause "$VG/pvmove0" > "$OUT/c-pause.txt" 2>&1; rc=$?
    cat "$OUT/c-pause.txt"
    check s16c-pause-rc test "$rc" = 0
    wait_unit_inactive "$UNIT" 60
    check s16c-unit-stopped test "$(unit_state "$UNIT")" = inactive
    udevadm trigger --action=change --settle "/dev/mapper/$PVMOVE_DM"
    systemctl daemon-reload
    sleep 5
    check s16c-held-after-uevent-and-reload test "$(unit_state "$UNIT")" = inactive
    check s16c-still-moving has_pvmove "$VG"
    lvmove status > "$OUT/c-status.txt" 2>&1
    cat "$OUT/c-status.txt"
    check s16c-status-says-paused grep -q paused "$OUT/c-status.txt"
    lvmove resume "$VG/pvmove0" > "$OUT/c-resume.txt" 2>&1; rc=$?
    cat "$OUT/c-resume.txt"
    check s16c-resume-rc test "$rc" = 0
    req throttle 0
    wait_no_pvmove "$VG" 180
    wait_unit_inactive "$UNIT" 60
    check s16c-completed test "$(msgs_since "$c" "$UNIT" "$MSG_COMPLETED")" -ge 1
    check s16c-off-source test "$(used_b "$P2")" = 0
    verify_sums "$VG" lv1 lv2 lv3

    # ---- d: LVM's own poller stuck (SIGSTOP), lvmove takes over beside it ----
    local poller end
    c=$(cursor)
    req throttle 524288   # slow until the poller is caught asleep (at 4 MiB/s the move could end first)
    cmd pvmove -b -i 5 --config global/use_lvmpolld=0 "$P1" "$P3" || check_fail s16d-pvmove
    poller=$(own_lvm_pids | head -1)
    log "LVM's forked poller: ${poller:-none} $(tr '\0' ' ' < "/proc/${poller:-0}/cmdline" 2>/dev/null)"
    check s16d-forked-poller test -n "$poller"
    wait_unit_active "$UNIT" "$VG" 60
    if [ -n "$poller" ] && stop_in_sleep "$poller"; then check_pass s16d-poller-stopped "pid $poller"
    else check_fail s16d-poller-stopped "pid ${poller:-none} never seen asleep"; fi
    req throttle 4194304
    grep -E '^State' "/proc/${poller:-0}/status" 2>/dev/null
    wait_no_pvmove "$VG" 400 && check_pass s16d-finished || check_fail s16d-finished "$(pvmove_lvs "$VG")"
    wait_unit_inactive "$UNIT" 60
    since "$c" -u "$UNIT" > "$OUT/d-unit-journal.txt"
    cat "$OUT/d-unit-journal.txt"
    check s16d-took-over grep -q "with no checkpoint; lvmove runs LVM's poller itself" "$OUT/d-unit-journal.txt"
    check s16d-completed test "$(msgs_since "$c" "$UNIT" "$MSG_COMPLETED")" -ge 1
    check s16d-unit-never-failed test -z "$(grep 'Failed with result' "$OUT/d-unit-journal.txt")"
    [ -n "$poller" ] && kill -CONT "$poller"
    end=$((SECONDS + 60))
    while [ -n "$poller" ] && [ -e "/proc/$poller" ] && [ "$SECONDS" -lt "$end" ]; do sleep 0.5; done
    check s16d-stuck-poller-exited test ! -e "/proc/${poller:-0}"
    check s16d-off-source test "$(used_b "$P1")" = 0
    verify_sums "$VG" lv1 lv2 lv3

    # ---- e: LVs kept out of autoactivation, crashed mid-move ----
    cmd lvchange --setautoactivation n "$VG/lv1" "$VG/lv2" || check_fail s16e-setautoactivation
    req throttle 524288
    lvmove move "$P3" "$P2" > "$OUT/e-move.txt" 2>&1; rc=$?
    cat "$OUT/e-move.txt"
    check s16e-move-rc test "$rc" = 0
    wait_unit_active "$UNIT" "$VG" 60
    wait_percent "$VG" pvmove0 15 120 || die "the move did not reach 15 %"
    mark READY-TO-CRASH
    sleep 600
    exit 1
}

phase2() {
    local end=$((SECONDS + 240)) at_up
    wait_pvdevs 4
    while [ "$SECONDS" -lt "$end" ]; do
        [ -e "/dev/mapper/$(dm_name "$VG" lv3)" ] && break
        sleep 0.5
    done
    at_up="lv1 $([ -e "/dev/mapper/$(dm_name "$VG" lv1)" ] && echo active || echo inactive), pvmove0 $([ -e "/dev/mapper/$PVMOVE_DM" ] && echo active || echo inactive)"
    log "VG came up (lv3 active): $at_up"
    echo "$at_up" > "$OUT/e-at-up.txt"
    wait_no_pvmove "$VG" 300
    wait_unit_inactive "$UNIT" 120
    journalctl -b --no-pager -o short-monotonic -u "$VG_UNIT" -u 'lvmove@*' > "$OUT/journal-lvmove.txt" 2>&1
    cat "$OUT/journal-lvmove.txt"
    check s16e-vg-check-found-it grep -q "inactive move found when $VG came up" "$OUT/journal-lvmove.txt"
    check s16e-started-inactive test -n "$(journalctl -b -o cat -u "$UNIT" "MESSAGE_ID=$MSG_STARTED" | grep 'inactive: activating')"
    check s16e-completed unit_has_msg "$UNIT" "$MSG_COMPLETED"
    check s16e-off-source test "$(used_b "$(pvdev 3)")" = 0
    verify_sums "$VG" lv1 lv2 lv3
    check_vgck "$VG"
    check_nothing_broken "$VG"
}

begin
case "$PHASE" in
    1) phase1 ;;
    2) phase2 ;;
esac
exit 0
