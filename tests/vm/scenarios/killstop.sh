# Scenario 8 (sourced by crash.sh in phase 2): the unit SIGKILLed mid-move and restarted; then stopped
# mid-move (state must stay consistent) and started again.
lvpoll_pids() { pgrep -f "lvpoll.*$VG/pvmove0|^\(lv.* pvmove " | tr '\n' ' '; }  # lvpoll or a forked poller
# The unit is carrying the move: `lvmove run` is its main process and it has shared progress. (With
# kernel-watch, lvmove's lvpoll lives only for a checkpoint, so its presence is no sign.)
wait_carrying() {
    local i pid
    for i in $(seq 1 120); do
        pid=$(systemctl show -p MainPID --value "$UNIT" 2>/dev/null)
        if [ -n "$pid" ] && [ "$pid" != 0 ] && grep -q "lvmove" "/proc/$pid/cmdline" 2>/dev/null &&
            [ -f "/run/lvmove/$(systemd-escape "$VG/pvmove0").json" ]; then
            return 0
        fi
        sleep 0.5
    done
    return 1
}
consistent() {  # the move is still there, intact, and vgck is happy
    has_pvmove "$VG" && vgck "$VG" > /dev/null 2>&1 &&
        lvs --readonly --noheadings -o lv_attr "$VG/lv1" | grep -q '^ *-..I\|^ *-wI'
}
kill_and_stop_unit() {
    wait_carrying || check_fail killstop-unit-carrying "$UNIT is not carrying $VG/pvmove0"
    log "processes before SIGKILL: $(ps -eo pid,unit:30,args | grep -E 'lvmove|lvpoll|lvm ' | grep -v grep | tr '\n' ';')"
    log "kernel before SIGKILL: $(dmsetup status "$VG-pvmove0" | tr '\n' ';') $(dmsetup info -c --noheadings -o name,attr "$VG-pvmove0")"
    cmd systemctl kill -s SIGKILL "$UNIT"
    sleep 2
    log "after SIGKILL: state=$(unit_state "$UNIT") lvpoll=[$(lvpoll_pids)]"
    if consistent; then check_pass killstop-consistent-after-sigkill; else check_fail killstop-consistent-after-sigkill "$(lvs -a "$VG" 2>&1 | tr '\n' ';')"; fi
    cmd systemctl reset-failed "$UNIT"
    cmd systemctl start --no-block "$UNIT"
    if wait_unit_active "$UNIT" "$VG" 60 && wait_carrying; then check_pass killstop-restarted
    else check_fail killstop-restarted "state=$(unit_state "$UNIT")"; fi
    sleep 3
    has_pvmove "$VG" || { check_fail killstop-move-too-short "move ended before the stop test"; return; }
    local t0 rc
    t0=$(date +%s)
    timeout 330 systemctl stop "$UNIT"; rc=$?
    log "systemctl stop: rc=$rc after $(( $(date +%s) - t0 ))s; state=$(unit_state "$UNIT") lvpoll=[$(lvpoll_pids)]"
    check killstop-stop-rc test "$rc" = 0
    check killstop-no-lvpoll-after-stop test -z "$(lvpoll_pids)"
    if consistent; then check_pass killstop-consistent-after-stop; else check_fail killstop-consistent-after-stop "$(lvs -a "$VG" 2>&1 | tr '\n' ';')"; fi
    journalctl -b -u "$UNIT" -o short-monotonic --no-pager | tail -20 > "$OUT/journal-after-stop.txt"
    cmd systemctl start --no-block "$UNIT"
    wait_unit_active "$UNIT" "$VG" 60 || true
    req throttle 2097152   # the rest of the copy may go faster
}
