#!/bin/bash
# Machine s15, bounded re-copy after a crash (issue 12): one LV of 64 MiB in one segment is moved with
# `lvmove move` under `max_recopy: 16M`, and the machine is crashed at >= 60 % of the move. After the reboot
# the kernel's own counts of the resumed mirror (regions x region size of its mirror line) say how much is
# copied again. LVM >= 2.03.36: LVM split the segment into pieces of 16 MiB, each checkpointed: at most
# 16 MiB. Older LVM has no such setting: `lvmove move` moves the PV in extent ranges of 16 MiB instead (a range
# job, one pvmove SRC:a-b after another), crashed at >= 60 % of the whole job: at most 16 MiB again, and after
# the reboot the job goes on by itself to the last range.
. "$SHARE/lib.sh"
UNIT=$(unit_of "$VG/pvmove0")
PVMOVE_DM=$(dm_name "$VG" pvmove0)
BOUND_MIB=16
LV_MIB=64

has_setting() { lvmconfig --type full allocation/pvmove_max_segment_size_mb > /dev/null 2>&1; }
job_left() { ls "/var/lib/lvmove/jobs/$VG" 2> /dev/null | grep -q json; }

# Percent of the whole range job: the LV's extents already on the destination plus the range in flight.
job_percent() {
    local done_pe p
    done_pe=$(lvs --readonly --segments --noheadings -o seg_size_pe,devices "$VG/big" 2>/dev/null |
        awk -v d="$(pvdev 2)" 'index($2, d "(") == 1 {s += $1} END {print s + 0}')
    p=$(lvs_percent "$VG" pvmove0)
    awk -v d="$done_pe" -v p="${p:-0}" -v b="$BOUND_MIB" -v t="$LV_MIB" 'BEGIN {printf "%d", (d * 4 + p * b / 100) * 100 / t}'
}
wait_job_percent() {
    local want=$1 end=$((SECONDS + $2)) p
    while [ "$SECONDS" -lt "$end" ]; do
        p=$(job_percent)
        if [ "$p" -ge "$want" ] && has_pvmove "$VG"; then log "range job at $p %"; return 0; fi
        sleep 0.5
    done
    return 1
}

phase1() {
    install_lvmove
    wait_pvdevs 2
    P1=$(pvdev 1) P2=$(pvdev 2)
    cmd wipefs -q -a "$P1" "$P2"
    cmd pvcreate -q -y "$P1" "$P2" || die pvcreate
    cmd vgcreate -q "$VG" "$P1" "$P2" || die vgcreate
    cmd lvcreate -q -y -n big -L "${LV_MIB}M" "$VG" "$P1" || die lvcreate
    fill_lvs "$VG" big
    mkdir -p /etc/lvmove
    echo "max_recopy: ${BOUND_MIB}M" > /etc/lvmove/lvmove.yaml
    req throttle 2097152
    lvmove move "$P1" "$P2" > "$OUT/move.txt" 2>&1
    check lvmove-move test "$?" = 0
    cat "$OUT/move.txt"
    lvs -a --segments --readonly -o lv_name,seg_size,segtype,devices "$VG" > "$OUT/segments-mid.txt" 2>&1
    cat "$OUT/segments-mid.txt"
    if has_setting; then
        wait_percent "$VG" pvmove0 60 240 || die "the move did not reach 60 %"
    else
        check range-job-started grep -q "in ranges of at most 16.0 MiB" "$OUT/move.txt"
        wait_job_percent 60 300 || die "the range job did not reach 60 %"
    fi
    mirror_state; mirror_region
    echo "$(lvs_percent "$VG" pvmove0)% of the move; mirror line $M_LINE/$M_LINES at $M_IN/$M_ALL regions of $M_REGION B" \
        > "$OUT/at-crash.txt"
    log "crash at: $(cat "$OUT/at-crash.txt")"
    mark READY-TO-CRASH
    sleep 600
    exit 1
}

phase2() {
    local end=$((SECONDS + 240)) bytes
    while [ "$SECONDS" -lt "$end" ]; do
        mirror_state && mirror_region && break
        sleep 0.3
    done
    [ "$M_LINE" != 0 ] || die "no running mirror of $VG/pvmove0 after the reboot"
    bytes=$(( M_ALL * M_REGION ))
    echo "resumed mirror: line $M_LINE/$M_LINES, $M_IN/$M_ALL regions of $M_REGION B: $((bytes / 1048576)) MiB copied again" \
        > "$OUT/recopy.txt"
    log "$(cat "$OUT/recopy.txt") (crashed at: $(cat "$OUT/at-crash.txt"))"
    check_pass recopy-measured "$((bytes / 1048576)) MiB"
    if has_setting; then
        check recopy-bounded test "$bytes" -le $((BOUND_MIB * 1048576))
        check recopy-pieces test "$M_LINES" -ge $((LV_MIB / BOUND_MIB))
    else
        log "this LVM has no allocation/pvmove_max_segment_size_mb: a range job of ${BOUND_MIB} MiB ranges"
        check recopy-bounded test "$bytes" -le $((BOUND_MIB * 1048576))
    fi
    req throttle 0   # (who finishes it, lvmove's unit or the boot's lvmpolld, is not this machine's point)
    wait_no_pvmove "$VG" 240
    if ! has_setting; then  # the job goes on by itself after the range in flight at the crash
        local until=$((SECONDS + 300))
        while { job_left || has_pvmove "$VG"; } && [ "$SECONDS" -lt "$until" ]; do sleep 1; done
        check range-job-finished test -z "$(job_left && echo left)$(pvmove_lvs "$VG")"
        lvmove status > "$OUT/status-after.txt" 2>&1
        journalctl -b --no-pager -o cat MESSAGE_ID=af85b49acb2b448288d8e4b1019d5891 > "$OUT/journal-job.txt" 2>&1
        cat "$OUT/journal-job.txt"
        check range-job-journal grep -q "in ranges of at most 16.0 MiB: done" "$OUT/journal-job.txt"
    fi
    wait_unit_inactive "$UNIT" 120
    journalctl -b --no-pager -o short-monotonic -u 'lvmove@*' > "$OUT/journal-lvmove.txt" 2>&1
    check lvs-off-source test -z "$(lvs --readonly --noheadings -o devices "$VG/big" | grep -F "$(pvdev 1)")"
    verify_sums "$VG" big
    check_vgck "$VG"
    check_nothing_broken "$VG"
}

begin
case "$PHASE" in
    1) phase1 ;;
    2) phase2 ;;
esac
exit 0
