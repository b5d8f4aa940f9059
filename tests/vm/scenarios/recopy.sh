#!/bin/bash
# Machine s15, bounded re-copy after a crash (issue 12): one LV of 64 MiB in one segment is moved with
# `lvmove move` under `max_recopy: 16M`, and the machine is crashed at >= 60 % of the move. After the reboot
# the kernel's own counts of the resumed mirror (regions x region size of its mirror line) say how much is
# copied again. LVM >= 2.03.36: LVM split the segment into pieces of 16 MiB, each checkpointed: at most
# 16 MiB. Older LVM has no such setting: the whole segment again, which `lvmove move` said beforehand.
. "$SHARE/lib.sh"
UNIT=$(unit_of "$VG/pvmove0")
PVMOVE_DM=$(dm_name "$VG" pvmove0)
BOUND_MIB=16
LV_MIB=64

has_setting() { lvmconfig --type full allocation/pvmove_max_segment_size_mb > /dev/null 2>&1; }

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
    wait_percent "$VG" pvmove0 60 240 || die "the move did not reach 60 %"
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
        log "this LVM has no allocation/pvmove_max_segment_size_mb: the segment in flight is copied again in full"
        check recopy-note grep -q "no allocation/pvmove_max_segment_size_mb" "$OUT/move.txt"
    fi
    req throttle 0   # (who finishes it, lvmove's unit or the boot's lvmpolld, is not this machine's point)
    wait_no_pvmove "$VG" 240
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
