#!/bin/bash
# Guest side of bench/vgcheck.py: the per-VG check (lvmove-vg@VG.service, `lvmove check-vg VG`) on one VG with
# $LVS logical volumes, beside what it costs to read that VG once with `lvs` and to activate it. JSON lines to
# $OUT/bench.jsonl. Phase 1 only (no crash).
. "$SHARE/lib.sh"
LVS=${LVS:-100}
REPEATS=${REPEATS:-5}
RESULTS="$OUT/bench.jsonl"
VG=many
UNIT=lvmove-vg@$VG.service
FLAG=/run/lvmove/vg-checked/$VG
now() { date +%s.%N; }
span() { local s e; s=$(now); "$@" > /dev/null 2>&1; e=$(now); awk "BEGIN{print $e - $s}"; }
mono_s() { systemctl show -p "$1" --value "$UNIT" | awk '{print $1 / 1e6}'; }  # a *TimestampMonotonic, in s

install_lvmove
wait_pvdevs 2
P1=$(pvdev 1); P2=$(pvdev 2)
cmd wipefs -q -a "$P1" "$P2"
cmd pvcreate -q -y "$P1" "$P2" || die pvcreate
cmd vgcreate -q -s 1m "$VG" "$P1" "$P2" || die vgcreate  # 1 MiB extents: 100 LVs fit small disks
# The LVs are created inactive (-an needs -Zn: nothing to zero), so that set-up raises no uevents.
s=$(now)
for i in $(seq 1 "$LVS"); do
    lvcreate -q -y -an -Zn -n "lv$i" -L 1m "$VG" > /dev/null 2>&1 || die "lvcreate lv$i"
done
log "created $LVS LVs in $(awk "BEGIN{print $(now) - $s}") s"
check lvs-created test "$(lvs --noheadings -o lv_name "$VG" | wc -l)" -eq "$LVS"

# 1. Activation as at boot: every LV's dm device appears at once; udev's rule asks for the check on each.
for round in $(seq 1 "$REPEATS"); do
    vgchange -q -an "$VG" > /dev/null || die "vgchange -an"
    udevadm settle
    systemctl stop "$UNIT"; rm -f "$FLAG"
    since=$(date '+%Y-%m-%d %H:%M:%S'); sleep 1
    s=$(now); vgchange -q -ay "$VG" > /dev/null 2>&1; e=$(now)
    act=$(awk "BEGIN{print $e - $s}")
    act_end=$(cut -d' ' -f1 /proc/uptime)  # the activation's end, on the monotonic clock the unit's times use
    udevadm settle
    for _ in $(seq 1 600); do
        [ "$(systemctl show -p ActiveState --value "$UNIT")" = active ] && break; sleep 0.2
    done
    state=$(systemctl show -p ActiveState --value "$UNIT")
    # systemd's "unit starting" journal entry (MESSAGE_ID of sd-messages.h SD_MESSAGE_UNIT_STARTING), per start job
    starts=$(journalctl -q -o cat --since "$since" MESSAGE_ID=7d4958e842da4a758f6c1cdc7b36dcc5 UNIT="$UNIT" | wc -l)
    started=$(mono_s ExecMainStartTimestampMonotonic); exited=$(mono_s ExecMainExitTimestampMonotonic)
    run_s=$(awk "BEGIN{print $exited - $started}")
    lag_s=$(awk "BEGIN{print $exited - $act_end}")
    cpu=$(systemctl show -p CPUUsageNSec --value "$UNIT" | sed 's/\[not set\]//')
    devs=$(dmsetup ls | grep -c "^$VG-")
    [ "$starts" = 1 ] || once=no
    log "round $round: $devs dm devices, vgchange -ay ${act}s, unit $state, started $starts times, ran ${run_s}s (done ${lag_s}s after the activation), cpu ${cpu}ns"
    echo "{\"kind\": \"activation\", \"lvs\": $LVS, \"dm_devices\": $devs, \"vgchange_s\": $act, \"state\": \"$state\", \"starts\": $starts, \"unit_run_s\": $run_s, \"after_activation_s\": $lag_s, \"unit_cpu_ns\": ${cpu:-null}}" >> "$RESULTS"
done
check vg-check-started-once-per-activation test "${once:-yes}" = yes
check vg-check-unit-active test "$(systemctl show -p ActiveState --value "$UNIT")" = active

# 2. The check itself beside one lvs of the same VG, alternating (the VG active, nothing to do).
cd / || die "cd /"  # not the 9p share: python3 looks up imports in its working directory first
for round in $(seq 1 "$REPEATS"); do
    chk=$(span lvmove check-vg "$VG")
    rep=$(span lvs --readonly "$VG")
    py=$(span python3 -c pass)
    calls=$(lvmove -v check-vg "$VG" 2>&1 | grep -c "run: lvm ")
    echo "{\"kind\": \"check\", \"lvs\": $LVS, \"check_s\": $chk, \"lvs_s\": $rep, \"python_s\": $py, \"lvm_calls\": $calls}" >> "$RESULTS"
done
check vg-check-says-nothing-to-do sh -c "lvmove check-vg $VG | grep -q 'nothing to do'"
check no-failed-lvmove-unit sh -c "! systemctl --failed --no-legend | grep -q lvmove"
vgchange -q -an "$VG" > /dev/null
log "bench done"
