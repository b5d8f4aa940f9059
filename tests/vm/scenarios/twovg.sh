#!/bin/bash
# Scenarios 6 and 7: three VGs, each with a move crashed mid-way. After the reboot only "data-vg" is
# autoactivated (lvm.conf auto_activation_volume_list): its unit lvmove@data\x2dvg-pvmove0 must start by
# itself (7); "vg" stays inactive and is resumed by `systemctl start lvmove@vg-pvmove0` (6), "vg3" by
# `lvmove start vg3/pvmove0` (6).
. "$SHARE/lib.sh"
. "$SHARE/setup.sh"
VGS="vg data-vg vg3"
begin
if [ "$PHASE" = 1 ]; then
    install_lvmove
    setup_vg_on vg 1 2 12
    setup_vg_on data-vg 3 2 12
    setup_vg_on vg3 5 2 12
    req throttle 524288
    cmd pvmove -b -i 2 "$(pvdev 1)" "$(pvdev 2)" || die "pvmove vg"
    cmd pvmove -b -i 2 "$(pvdev 3)" "$(pvdev 4)" || die "pvmove data-vg"
    cmd pvmove -b -i 2 "$(pvdev 5)" "$(pvdev 6)" || die "pvmove vg3"
    # No capture here: it takes ~40 s, long enough for the moves to finish before the crash.
    for v in $VGS; do wait_percent "$v" pvmove0 20 180 || die "$v move did not progress"; done
    lvs -a -o vg_name,lv_name,copy_percent > "$OUT/lvs-before-crash.txt" 2>&1
    systemctl list-units --all --no-pager 'lvmove@*' > "$OUT/units-phase1.txt"
    lvm_conf_set 'activation/auto_activation_volume_list=[ "data-vg" ]'
    journalctl --sync
    sync
    mark READY-TO-CRASH
    sleep 600
    exit 1
fi

capture twovg-after-boot
DUNIT=$(unit_of data-vg/pvmove0)
check unit-name-escaped test "$DUNIT" = 'lvmove@data\x2dvg-pvmove0.service'
wait_unit_active "$DUNIT" data-vg 240
if [ "$UNIT_SEEN" = 1 ] || journalctl -b -u "$DUNIT" -o cat --no-pager | grep -q "^Starting lvmove@"; then
    check_pass data-vg-unit-started-by-itself
else check_fail data-vg-unit-started-by-itself "state=$(unit_state "$DUNIT")"; fi
# The boot's 64 KiB/s (test_scenarios) holds data-vg's copy until its unit says it carries the move.
wait_unit_says "$DUNIT" carrying 120 || log "$DUNIT said nothing of carrying the move in 120 s"
req throttle 1048576
lvs -a --readonly -o vg_name,lv_name,lv_attr,copy_percent > "$OUT/lvs-after-boot.txt" 2>&1
# vg and vg3 stay inactive: nothing may have started their units.
for v in vg vg3; do
    check "$v-inactive-after-boot" test -z "$(dmsetup info -c --noheadings -o name 2>/dev/null | grep "^$v-")"
done
cmd systemctl start --no-block "$(unit_of vg/pvmove0)"
cmd lvmove start vg3/pvmove0 > "$OUT/lvmove-start.txt" 2>&1; rc=$?
cat "$OUT/lvmove-start.txt"
check lvmove-start-rc test "$rc" = 0
for v in $VGS; do
    u=$(unit_of "$v/pvmove0")
    if wait_unit_active "$u" "$v" 120 || ! has_pvmove "$v"; then check_pass "$v-unit-ran"; else check_fail "$v-unit-ran" "$(unit_state "$u")"; fi
done
for v in $VGS; do
    if wait_no_pvmove "$v" 600; then check_pass "$v-finished"; else check_fail "$v-finished"; fi
done
req throttle 0   # the checksums read every LV
for v in $VGS; do
    u=$(unit_of "$v/pvmove0")
    wait_unit_inactive "$u" 120
    save_unit_journal "$u" "$v"
    check "$v-journal-completed" unit_has_msg "$u" "$MSG_COMPLETED"
    check "$v-off-source" test -z "$(lvs --readonly --noheadings -o devices "$v" | grep -F "$(pvdev $(( $(echo $VGS | tr ' ' '\n' | grep -n "^$v$" | cut -d: -f1) * 2 - 1 )))")"
    verify_sums "$v" lv1 lv2
    check_vgck "$v"
    check_nothing_broken "$v"
done
capture twovg-final
exit 0
