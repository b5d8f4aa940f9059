#!/bin/bash
# Stock LVM2 (no lvmove): capture real outputs of a by-segment move (LVM's forked poller) and an --atomic
# move (lvmpolld), crash during the atomic one, and check that stock LVM (lvmpolld, PVs on virtio-scsi) resumes and finishes it.
. "$SHARE/lib.sh"
. "$SHARE/setup.sh"
begin
if [ "$PHASE" = 1 ]; then
    setup_vg 3
    P1=$(pvdev 1) P2=$(pvdev 2) P3=$(pvdev 3)
    capture before
    req throttle 2097152
    # LVM's own forked poller (not lvmpolld) for this one: proc-pollers.txt shows its argv as /proc has it.
    cmd pvmove --config global/use_lvmpolld=0 -b -i 2 "$P1" "$P2" || die "pvmove by-segment"
    wait_percent "$VG" pvmove0 30 120 || die "by-segment move did not progress"
    capture by-segment-mid
    wait_percent "$VG" pvmove0 45 120 && capture by-segment-mid2
    req throttle 0
    wait_no_pvmove "$VG" 120 || die "by-segment move did not finish"
    capture by-segment-done
    req throttle 2097152
    cmd pvmove -b -i 2 --atomic "$P2" "$P3" || die "pvmove --atomic"
    wait_percent "$VG" pvmove0 30 120 || die "atomic move did not progress"
    capture atomic-mid
    journalctl --sync
    sync
    mark READY-TO-CRASH
    sleep 600
else
    capture after-boot
    wait_percent "$VG" pvmove0 10 120 && capture atomic-resumed-mid
    check stock-finishes wait_no_pvmove "$VG" 300
    req throttle 0
    capture final
    journalctl -b -1 -o short-monotonic --no-pager | grep -Ei 'lvm|pvmove|dm-[0-9]' > "$OUT/journal-boot1-lvm.txt" 2>&1
    journalctl -b 0 -o short-monotonic --no-pager | grep -Ei 'lvm|pvmove|dm-[0-9]' > "$OUT/journal-boot2-lvm.txt" 2>&1
    verify_sums "$VG" lv1 lv2
    check_vgck "$VG"
    check all-on-pv3 test "$(lv_pvs "$VG" lv1)$(lv_pvs "$VG" lv2)" = "$(pvdev 3) $(pvdev 3) "
fi
