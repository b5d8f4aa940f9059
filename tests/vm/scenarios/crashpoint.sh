#!/bin/bash
# Crash matrix (host: tests/vm/crashmatrix.py): one crash point of a pvmove per machine, then a boot with no
# action by hand that must show the move carried to its end, every LV's data unchanged and nothing broken.
# scenario.env: KIND segment|checkpoint|finish|unit-start, MODE by-segment|atomic, LVMPOLLD 1|0, SEG (1-based
# segment: copied when crashed at PCT %, or just in sync for checkpoint), PCT, METHOD sigkill|sysrq,
# FINAL_PHASE (2; 3 after unit-start's second crash), MOVE_BPS (copy throttle of boot 1), INTERVAL (pvmove -i).
# What each crash hit goes to out/crash.<boot>.txt (before the crash: the share is written through), what
# lvmove did to out/lvmove-did.txt.
. "$SHARE/lib.sh"
. "$SHARE/setup.sh"
KIND=${KIND:-segment} MODE=${MODE:-by-segment} LVMPOLLD=${LVMPOLLD:-1} SEG=${SEG:-1} PCT=${PCT:-50}
METHOD=${METHOD:-sigkill} FINAL_PHASE=${FINAL_PHASE:-2} MOVE_BPS=${MOVE_BPS:-1048576} INTERVAL=${INTERVAL:-2}
UNIT=$(unit_of "$VG/pvmove0")
VG_UNIT=$(systemd-escape --template=lvmove-vg@.service "$VG")
PVMOVE_DM=$(dm_name "$VG" pvmove0)
MSG_ORPHAN_REMOVED=6f0d1c5be2a44f4c9d7e8a31b5c2f9e0
MSG_ORPHAN_FOUND=c3a9e27f41d84b0a8f6e1d2c7b5a4e93
WAIT=300   # seconds a crash point waits for its moment

mirror_desc() {
    if ! mirror_state; then echo "no $PVMOVE_DM device"
    elif [ "$M_LINE" = 0 ]; then echo "no mirror line among $M_LINES"
    else echo "segment $M_LINE/$M_LINES at $M_IN/$M_ALL regions"; fi
}
gone() { ! mirror_state && ! has_pvmove "$VG"; }

# Freeze LVM's and lvmove's processes (SIGSTOP): with the host's SIGKILL the crash is this moment, not the one
# the host reads the marker at (~0.2-0.5 s later). The kernel's copy goes on until the SIGKILL.
freeze_user_space() {
    local pids
    pids=$(pgrep -d ' ' -x 'lvm|pvmove|lvmpolld|vgchange|lvchange|lvremove|lvmove')
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -STOP $pids 2>/dev/null
    log "frozen: ${pids:-nothing}"
}

# crash_now WHERE: the crash, by the host (SIGKILL of qemu on READY-TO-CRASH) or by sysrq-b from here (qemu
# runs with -no-reboot: it exits).
crash_now() {
    local where=$1
    [ "$METHOD" = sigkill ] && freeze_user_space
    echo "$where" > "$OUT/crash.$(boot_no).txt"
    log "crash ($METHOD) at: $where"
    if [ "$METHOD" = sysrq ]; then
        mark CRASH-SYSRQ
        echo b > /proc/sysrq-trigger
    else
        mark READY-TO-CRASH
    fi
    sleep 600
    exit 1
}

# The copy of segment K at >= P % (sets WHERE). The kernel counts whole regions (2 MiB for a pvmove: 8 in a
# 16 MiB segment): the target is the first region count >= P %, at least 1 and short of all (in sync is the
# checkpoint's moment).
wait_segment() {
    local k=$1 p=$2 end=$((SECONDS + WAIT)) want
    while [ "$SECONDS" -lt "$end" ]; do
        if mirror_state; then
            want=$(( (p * M_ALL + 99) / 100 ))
            [ "$want" -lt "$M_ALL" ] || want=$((M_ALL - 1))
            [ "$want" -ge 1 ] || want=1
            if [ "$M_LINE" = "$k" ] && [ "$M_ALL" -gt 0 ] && [ "$M_IN" -ge "$want" ]; then
                WHERE="segment $k/$M_LINES at $((M_IN * 100 / M_ALL))% ($M_IN/$M_ALL regions)"; return
            fi
            if [ "$M_LINE" -gt "$k" ] || [ "$M_LINE" = 0 ]; then WHERE="late: $(mirror_desc)"; return; fi
        elif gone; then WHERE="late: the move had ended"; return
        fi
        sleep 0.1
    done
    WHERE="timeout: $(mirror_desc)"
}

# Segment K in sync in the kernel, LVM's reload onto the next segment not yet seen (sets WHERE).
wait_checkpoint() {
    local k=$1 end=$((SECONDS + WAIT))
    while [ "$SECONDS" -lt "$end" ]; do
        if mirror_state; then
            if [ "$M_LINE" = "$k" ] && [ "$M_ALL" -gt 0 ] && [ "$M_IN" = "$M_ALL" ]; then
                WHERE="segment $k/$M_LINES in sync ($M_IN/$M_ALL), LVM's reload not yet done"; return
            fi
            if [ "$M_LINE" -gt "$k" ] || [ "$M_LINE" = 0 ]; then WHERE="late: $(mirror_desc)"; return; fi
        elif gone; then WHERE="late: the move had ended"; return
        fi
    done
    WHERE="timeout: $(mirror_desc)"
}

# Does a live table of lv1/lv2 map onto device $1 (major:minor)? Returns 2 when neither table is there.
lv_tables_use() {
    local line seen=0
    while IFS= read -r line; do
        case "$line" in
            "$VG-lv1: "*|"$VG-lv2: "*) seen=1; [[ "$line " == *" $1 "* ]] && return 0 ;;
        esac
    done <<< "$(dmsetup table 2>/dev/null)"
    [ "$seen" = 1 ] && return 1
    return 2
}

# Inside LVM's finish: the last segment in sync, then (polling the live tables) the moved LVs remapped off
# pvmove0, i.e. after the first commit and before pvmove0 is deactivated and the second commit (sets WHERE).
wait_finish() {
    local end=$((SECONDS + WAIT)) devno rc
    while [ "$SECONDS" -lt "$end" ]; do
        if mirror_state; then
            [ "$M_LINE" = "$M_LINES" ] && [ "$M_ALL" -gt 0 ] && [ "$M_IN" = "$M_ALL" ] && break
        elif gone; then WHERE="late: the move had ended"; return
        fi
        sleep 0.1
    done
    devno=$(dmsetup info -c --noheadings -o major,minor "$PVMOVE_DM" 2>/dev/null | tr -d ' ')
    [ -n "$devno" ] || { WHERE="late: no $PVMOVE_DM device after the last segment"; return; }
    log "last segment in sync ($(mirror_desc)); $PVMOVE_DM is $devno; watching the LVs' tables"
    end=$((SECONDS + 30))
    while [ "$SECONDS" -lt "$end" ]; do
        lv_tables_use "$devno"; rc=$?
        if [ "$rc" = 1 ]; then
            if dmsetup info "$PVMOVE_DM" > /dev/null 2>&1; then
                WHERE="finish: LVs off pvmove0 (LVM's 1st commit done), pvmove0 device still there"
            else
                WHERE="finish: LVs off pvmove0 and its device gone (2nd commit maybe done)"
            fi
            return
        fi
    done
    WHERE="finish not seen within 30 s after the last segment in sync ($(mirror_desc))"
}

# Boot 2 of unit-start: crash as soon as lvmove@ is activating (sets WHERE).
wait_unit_start() {
    local end=$((SECONDS + 240)) next=$((SECONDS + 5)) state since now
    while [ "$SECONDS" -lt "$end" ]; do
        state=$(systemctl show -p ActiveState -p InactiveExitTimestampMonotonic "$UNIT" 2>/dev/null | tr '\n' ' ')
        if [[ "$state" == *ActiveState=activating* ]]; then
            since=$(sed -n 's/.*InactiveExitTimestampMonotonic=\([0-9]*\).*/\1/p' <<< "$state")
            now=$(cut -d' ' -f1 /proc/uptime | tr -d .)
            WHERE="$UNIT activating for $(( (now * 10000 - ${since:-0}) / 1000 )) ms (boot at $(t) s)"
            return
        fi
        if [ "$SECONDS" -ge "$next" ]; then
            next=$((SECONDS + 5))
            gone && { WHERE="late: the move had ended before $UNIT started ($state)"; return; }
        fi
    done
    WHERE="timeout: $UNIT never activating ($state)"
}

phase1() {
    install_lvmove
    [ "$LVMPOLLD" = 1 ] || lvm_conf_set global/use_lvmpolld=0
    setup_vg 2
    journalctl --sync
    sync   # lvmove, lvm.conf and the VG are on disk; from here on nothing is synced by hand
    req throttle "$MOVE_BPS"
    local args=(-b -i "$INTERVAL")
    [ "$MODE" = atomic ] && args+=(--atomic)
    cmd pvmove "${args[@]}" "$(pvdev 1)" "$(pvdev 2)" || die "pvmove"
    case "$KIND" in
        checkpoint) wait_checkpoint "$SEG" ;;
        finish) wait_finish ;;
        *) wait_segment "$SEG" "$PCT" ;;
    esac
    crash_now "$WHERE"
}

unit_busy() { case "$(unit_state "$1")" in activating|deactivating|reloading) return 0 ;; esac; return 1; }
pvmove_names() { lvs -a --readonly --noheadings -o lv_name "$VG" 2>/dev/null | tr -d ' []' | grep '^pvmove' | tr '\n' ' '; }
journal_msgs() { journalctl -b --no-pager -o cat "MESSAGE_ID=$1" 2>/dev/null; }

# The final boot's starting line: both PVs' disks there, the VG read and its LVs activated by udev's
# autoactivation, and its per-VG check unit run once (seen: on virtio-scsi the runner starts ~20 s before
# pvscan sees the PVs; reading then finds no VG and no pvmove LV). Logs what it waited for (or the timeout).
wait_vg_up() {
    local end=$((SECONDS + $1)) active lv
    wait_pvdevs 2
    while [ "$SECONDS" -lt "$end" ]; do
        active=0   # their dm devices (lvs --readonly reports lv_active "unknown")
        for lv in lv1 lv2; do [ -e "/dev/mapper/$(dm_name "$VG" "$lv")" ] && active=$((active + 1)); done
        if [ "$active" = 2 ] && [ "$(systemctl show -p ActiveEnterTimestampMonotonic --value "$VG_UNIT" 2>/dev/null)" != 0 ] \
            && ! unit_busy "$VG_UNIT"; then
            log "VG $VG up: lv1 and lv2 active, $VG_UNIT ran"; return 0
        fi
        sleep 1
    done
    log "VG $VG not up after $1 s: ${active:-0}/2 LVs active; $VG_UNIT $(unit_state "$VG_UNIT")"
    return 1
}

# No pvmove LV left and neither lvmove unit at work (or the timeout).
wait_settled() {
    local end=$((SECONDS + $1)) left
    while [ "$SECONDS" -lt "$end" ]; do
        left=$(pvmove_names)
        if [ -z "$left" ] && ! unit_busy "$UNIT" && ! unit_busy "$VG_UNIT"; then log "settled"; return 0; fi
        sleep 2
    done
    log "not settled after $1 s: ${left:-no pvmove LV}; $UNIT $(unit_state "$UNIT"); $VG_UNIT $(unit_state "$VG_UNIT")"
    return 1
}

# The journal of this boot says what lvmove did: carried the move (started + completed), removed an orphan,
# or nothing because no pvmove LV was left when the runner started and lvmove logged no start.
journal_says() {
    local started completed removed did
    started=$(journal_msgs "$MSG_STARTED") completed=$(journal_msgs "$MSG_COMPLETED")
    removed=$(journal_msgs "$MSG_ORPHAN_REMOVED")
    if [ -n "$started" ] && [ -n "$completed" ]; then
        did="resumed, completed"; check_pass journal-lvmove "$(head -1 <<< "$completed")"
    elif [ -n "$removed" ]; then
        did="removed the orphan"; check_pass journal-lvmove "$(head -1 <<< "$removed")"
    elif [ -z "$AT_START" ] && [ -z "$started" ]; then
        did="nothing: no pvmove LV at boot"; check_pass journal-lvmove "$did"
    else
        did="?"; check_fail journal-lvmove "started: ${started:-none}; completed: ${completed:-none}; at boot: $AT_START"
    fi
    echo "$did" > "$OUT/lvmove-did.txt"
    local bad
    bad=$(journal_msgs "$MSG_FAILED"; journal_msgs "$MSG_ORPHAN_FOUND")
    if [ -z "$bad" ]; then check_pass no-failed-event; else check_fail no-failed-event "$(head -3 <<< "$bad" | tr '\n' ';')"; fi
}

final_phase() {
    wait_vg_up 240
    AT_START=$(pvmove_names)
    lvs -a --readonly -o lv_name,lv_attr,segtype,devices "$VG" > "$OUT/final-start.txt" 2>&1
    log "final boot, when the VG came up: pvmove LVs: ${AT_START:-none}; $UNIT $(unit_state "$UNIT")"
    wait_settled 240
    journal_says
    check lvs-off-source test -z "$(lvs --readonly --noheadings -o devices "$VG" | grep -F "$(pvdev 1)")"
    verify_sums "$VG" lv1 lv2
    check_vgck "$VG"
    check_nothing_broken "$VG"
    journalctl -b --no-pager -o short-monotonic -u 'lvmove@*' -u 'lvmove-vg@*' > "$OUT/journal-lvmove.txt" 2>&1
    journalctl -b -1 --no-pager -o short-monotonic -u 'lvmove@*' -u 'lvmove-vg@*' > "$OUT/journal-lvmove-prev.txt" 2>&1
    journalctl -b --no-pager -o short-monotonic > "$OUT/journal-final-full.txt" 2>&1
    grep -q '^FAIL' "$CHECKS" && capture final
    return 0
}

begin
case "$PHASE" in
    1) phase1 ;;
    "$FINAL_PHASE") final_phase ;;
    *) wait_unit_start; crash_now "$WHERE" ;;
esac
exit 0
