# Guest-side helpers for lvmove VM scenarios (sourced by every scenario script; bash).
# The runner starts the script in the 9p share with $SHARE and $PHASE set; output goes to out/phaseN.log.
set -u
# shellcheck disable=SC1091
[ -f "$SHARE/scenario.env" ] && . "$SHARE/scenario.env"
OUT="$SHARE/out"
CHECKS="$OUT/checks.txt"
VG=${VG:-vg}
LVS_FIELDS=vg_name,vg_uuid,vg_extent_size,lv_name,lv_uuid,lv_attr,lv_active,lv_size,move_pv,copy_percent,lv_layout,lv_role,segtype,seg_size_pe,seg_pe_ranges,devices
export LC_ALL=C
mkdir -p "$OUT"

t() { cut -d' ' -f1 /proc/uptime; }
log() { echo "[$(t)] $*"; }
mark() { echo "LVMOVE-VM: $*" > /dev/ttyS0; log "MARK $*"; }
# What the kernel and device-mapper say now (kernel warnings and errors, every dm table), for a failure's log.
kernel_report() {
    log "--- kernel log (warnings and errors, last 15) ---"
    dmesg --level=emerg,alert,crit,err,warn 2>&1 | tail -n 15
    log "--- dmsetup table ---"
    dmsetup table 2>&1 | head -n 20
}
die() { kernel_report; log "FATAL: $*"; check_fail fatal "$*"; exit 1; }

# Run a command, echoing it and its exit code into the log.
cmd() {
    log "# $*"
    "$@"
    local rc=$?
    log "rc=$rc"
    return $rc
}

check_pass() { echo "PASS $1 ${2:-}" >> "$CHECKS"; log "CHECK PASS $1 ${2:-}"; }
check_fail() { echo "FAIL $1 ${2:-}" >> "$CHECKS"; log "CHECK FAIL $1 ${2:-}"; }
# note NAME TEXT: neither pass nor fail; the harness lists every note under the run's results.
note() { echo "NOTE $1 ${2:-}" >> "$CHECKS"; log "NOTE $1 ${2:-}"; }
# check NAME COMMAND...: PASS if the command succeeds.
check() {
    local name=$1; shift
    if "$@"; then check_pass "$name"; else check_fail "$name" "$*"; fi
}

# Ask the host for something (e.g. `req throttle 2097152`) and wait for its answer.
REQ_N=0
req() {
    REQ_N=$((REQ_N + 1))
    local ack="$SHARE/ack/$(boot_no)-$REQ_N" i
    mark "REQ $REQ_N $*"
    for i in $(seq 1 300); do
        if [ -f "$ack" ]; then log "host: $* -> $(cat "$ack")"; return 0; fi
        sleep 0.1
    done
    die "host did not answer request: $*"
}
boot_no() { cat "$SHARE/boot-number" 2>/dev/null || echo 0; }

# The N-th PV disk (serial pvN), on virtio-scsi or virtio-blk.
pvdev() {
    local p
    for p in "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_pv$1" "/dev/disk/by-id/virtio-pv$1"; do
        [ -e "$p" ] && { readlink -f "$p"; return 0; }
    done
    return 1
}
wait_pvdevs() {
    local n=$1 i k
    for i in $(seq 1 100); do
        for k in $(seq 1 "$n"); do pvdev "$k" > /dev/null || break; done
        pvdev "$n" > /dev/null && return 0
        sleep 0.3
    done
    die "PV disks did not appear"
}

lvm_conf_set() {  # lvm_conf_set section/key=value ...: edit /etc/lvm/lvm.conf (and show the diff)
    local kv sec key val
    for kv in "$@"; do
        sec=${kv%%/*}; key=${kv#*/}; key=${key%%=*}; val=${kv#*=}
        # Add the setting at the top of its section (LVM takes the first definition).
        sed -i "0,/^${sec} {/s//${sec} {\n\t${key} = ${val}/" /etc/lvm/lvm.conf
    done
    lvmconfig --type diff
}

# Upstream LVM2 over the guest's own (host: LVMOVE_VM_LVM, tests/vm/lvmbuild.py). scenario.env names the tree
# (LVM_OVERLAY, a tarball in the share; LVM_OVERLAY_ID; LVM_OVERLAY_VERSION, e.g. "2.03.39(2)"), the generation
# (LVM_GENERATION, e.g. bookworm+2.03.39) and LVM_OVERLAY_INITRAMFS=1 (PVs the initramfs sees: rebuild it and
# leave it in the share as boot/initrd.img, which the host boots from then on). Laid over once, in the first
# boot, before lvmove and any LVM work; later boots run on the root overlay that kept it (checked via the
# marker). Every boot records `lvm version`'s first line in out/lvm-version.txt (and out/lvm-versions.txt).
LVM_OVERLAY_MARK=/etc/lvmove-vm/lvm-overlay
lvm_overlay() {
    [ "${LVM_OVERLAY_DONE:-0}" = 1 ] && return 0
    LVM_OVERLAY_DONE=1
    local gen=${LVM_GENERATION:-?} ver kver
    if [ -n "${LVM_OVERLAY:-}" ]; then
        if [ "$(cat "$LVM_OVERLAY_MARK" 2>/dev/null)" = "$LVM_OVERLAY_ID" ]; then
            log "LVM tree $LVM_OVERLAY_ID already laid over (kept by the root overlay since an earlier boot)"
        else
            [ "$(boot_no)" -le 1 ] || check_fail lvm-overlay-kept "$gen: boot $(boot_no) ran without $LVM_OVERLAY_ID"
            cmd tar -xf "$SHARE/$LVM_OVERLAY" -C / --keep-directory-symlink --no-overwrite-dir || die "cannot lay $LVM_OVERLAY over /"
            cmd ldconfig
            cmd systemctl daemon-reload
            cmd udevadm control --reload
            cmd systemctl restart lvm2-lvmpolld.socket
            mkdir -p "${LVM_OVERLAY_MARK%/*}"
            echo "$LVM_OVERLAY_ID" > "$LVM_OVERLAY_MARK"
            if [ "${LVM_OVERLAY_INITRAMFS:-0}" = 1 ]; then
                kver=$(uname -r)
                cmd update-initramfs -u -k "$kver" || die "update-initramfs failed"
                mkdir -p "$SHARE/boot"
                cp "/boot/initrd.img-$kver" "$SHARE/boot/initrd.img.part" && mv "$SHARE/boot/initrd.img.part" "$SHARE/boot/initrd.img" ||
                    die "cannot copy the rebuilt initramfs to the share"
            fi
            sync
        fi
    fi
    ver=$(lvm version 2>&1 | head -1 | sed 's/^ *LVM version: *//')
    echo "$ver" > "$OUT/lvm-version.txt"
    echo "boot $(boot_no) phase $PHASE $gen: $ver" >> "$OUT/lvm-versions.txt"
    log "LVM on $gen: $ver"
    if [ -n "${LVM_OVERLAY:-}" ]; then
        case "$ver" in
            "$LVM_OVERLAY_VERSION"*) check_pass lvm-version "$gen boot $(boot_no): $ver" ;;
            *) check_fail lvm-version "$gen boot $(boot_no): lvm says '$ver', expected $LVM_OVERLAY_VERSION"
               die "wrong LVM version" ;;
        esac
    fi
}

# Install lvmove the way a distro does: the .deb from the share, or (LVMOVE_VM_STAGED) staged files.
# The .deb's initramfs-tools hook triggers update-initramfs (about 190 s under TCG). The guest boots the
# initramfs the host hands it, which matters only where the initramfs sees the PVs (virtio-blk): there the
# scenario sets INITRAMFS_HOOK=1, the initramfs is rebuilt with lvmove's hook and left in the share as
# boot/initrd.img, which the host boots from then on; elsewhere (and with INITRAMFS_HOOK=0, stock LVM's
# initramfs) the trigger is switched off.
initramfs_conf=/etc/initramfs-tools/update-initramfs.conf
install_lvmove() {
    lvm_overlay
    if [ -f "$initramfs_conf" ]; then
        sed -i 's/^update_initramfs=.*/update_initramfs=no/' "$initramfs_conf"
    fi
    if ls "$SHARE"/pkg/lvmove_*_all.deb > /dev/null 2>&1; then
        cmd dpkg -i "$SHARE"/pkg/lvmove_*_all.deb || die "dpkg -i failed"
        [ -f /usr/share/initramfs-tools/hooks/lvmove ] || die "the .deb has no initramfs-tools hook"
    elif [ -d "$SHARE/stage" ]; then
        log "installing staged files (no .deb)"
        cp -a "$SHARE/stage/." / || die "staging failed"
    else
        die "no lvmove package in the share"
    fi
    cmd systemctl daemon-reload
    cmd udevadm control --reload
    [ -x /usr/bin/lvmove ] || die "/usr/bin/lvmove missing after install"
    if [ "${INITRAMFS_HOOK:-0}" = 1 ]; then
        local kver
        kver=$(uname -r)
        sed -i 's/^update_initramfs=.*/update_initramfs=yes/' "$initramfs_conf"
        cmd update-initramfs -u -k "$kver" || die "update-initramfs failed"
        # The hook's work, as the initramfs will run it: every vgchange of lvm2's rule without polling.
        unmkinitramfs "/boot/initrd.img-$kver" /tmp/initrd.x > /dev/null 2>&1
        if grep -rhs 'RUN+=.*vgchange -aay' /tmp/initrd.x | grep -vq -- '--poll n'; then
            check_fail initramfs-hook "a vgchange in the initramfs still polls"
        elif grep -rhsq 'RUN+=.*vgchange -aay --poll n' /tmp/initrd.x; then check_pass initramfs-hook
        else check_fail initramfs-hook "no vgchange of lvm2's rule found in the initramfs"; fi
        rm -rf /tmp/initrd.x
        mkdir -p "$SHARE/boot"
        cp "/boot/initrd.img-$kver" "$SHARE/boot/initrd.img.part" && mv "$SHARE/boot/initrd.img.part" "$SHARE/boot/initrd.img" ||
            die "cannot copy the rebuilt initramfs to the share"
        sync
    fi
}

# The running mirror of $PVMOVE_DM (the scenario's pvmove0) as the kernel shows it: M_LINE (1-based status line of the mirror = the
# segment being copied; 0: no line is a mirror), M_LINES (segments), M_IN/M_ALL (regions in sync / all).
# Returns 1 when the device is not there. No fork but dmsetup: the checkpoint window is short.
mirror_state() {
    local out n=0 f r
    M_LINE=0 M_LINES=0 M_IN=0 M_ALL=0
    out=$(dmsetup status "$PVMOVE_DM" 2>/dev/null) && [ -n "$out" ] || return 1
    while read -r -a f; do
        n=$((n + 1))
        if [ "${f[2]:-}" = mirror ] && [ "$M_LINE" = 0 ]; then
            r=${f[$((4 + f[3]))]}
            M_LINE=$n M_IN=${r%/*} M_ALL=${r#*/}
        fi
    done <<< "$out"
    M_LINES=$n
}
# M_REGION: the region size in bytes of mirror line M_LINE (from the table; after mirror_state).
mirror_region() {
    local f
    M_REGION=0
    [ "$M_LINE" != 0 ] || return 1
    read -r -a f <<< "$(dmsetup table "$PVMOVE_DM" 2>/dev/null | sed -n "${M_LINE}p")"  # start len mirror core <#args> <region sectors>
    [ "${f[2]:-}" = mirror ] || return 1
    M_REGION=$(( f[5] * 512 ))
}

lvs_json() { lvs -a --segments --readonly --reportformat json --units b --nosuffix -o "$LVS_FIELDS" "$@"; }
# Percent (overall, from lvs) of a pvmove LV, empty if none.
lvs_percent() {
    # Not --readonly: that mode never asks the kernel, so copy_percent would be empty.
    lvs -a --noheadings -o lv_name,copy_percent "$1" 2>/dev/null |
        awk -v lv="$2" '$1 == lv || $1 == "[" lv "]" {print $2}'
}
pvmove_lvs() {  # names of pvmove LVs in VG
    lvs -a --readonly --noheadings -o lv_name,lv_role "$1" 2>/dev/null | awk '$2 ~ /pvmove/ {gsub(/[][]/,"",$1); print $1}'
}
has_pvmove() { [ -n "$(pvmove_lvs "$1")" ]; }
# VG read whole (every PV there) and with no pvmove LV: a VG the boot has scanned only part of, or an lvs
# that failed, is not "no pvmove LV" (seen on sid: at 71 s the disks were attached but pvscan had not yet
# seen both, the unit started at 79 s and carried the move).
vg_whole_without_pvmove() {
    local lvs_out missing
    lvs_out=$(lvs -a --readonly --noheadings -o lv_name,lv_role "$1" 2>/dev/null) || return 1
    missing=$(vgs --readonly --noheadings -o vg_missing_pv_count "$1" 2>/dev/null) || return 1
    [ "${missing// /}" = 0 ] || return 1
    ! awk '$2 ~ /pvmove/ {found=1} END {exit !found}' <<< "$lvs_out"
}

# Wait until copy_percent of VG/LV reaches a threshold (percent, integer).
wait_percent() {
    local vg=$1 lv=$2 want=$3 timeout=$4 end p
    end=$(( $(date +%s) + timeout ))
    while [ "$(date +%s)" -lt "$end" ]; do
        p=$(lvs_percent "$vg" "$lv")
        if [ -n "$p" ] && [ "${p%%.*}" -ge "$want" ]; then log "$vg/$lv at $p%"; return 0; fi
        sleep 0.5
    done
    log "timeout waiting for $vg/$lv >= $want% (now '${p:-}')"
    return 1
}
wait_pvmove_exists() {
    local vg=$1 timeout=$2 end
    end=$(( $(date +%s) + timeout ))
    while [ "$(date +%s)" -lt "$end" ]; do
        has_pvmove "$vg" && return 0
        sleep 0.3
    done
    log "timeout: no pvmove LV appeared in $vg"
    return 1
}
# Wait until VG has no pvmove LV.
wait_no_pvmove() {
    local vg=$1 timeout=$2 end
    end=$(( $(date +%s) + timeout ))
    while [ "$(date +%s)" -lt "$end" ]; do
        has_pvmove "$vg" || { log "$vg: no pvmove LV left"; return 0; }
        sleep 1
    done
    log "timeout: $vg still has $(pvmove_lvs "$vg") at $(lvs_percent "$vg" pvmove0)%"
    return 1
}

# Fill each LV with random data and record its sha256.
fill_lvs() {
    local vg=$1 lv; shift
    for lv in "$@"; do
        fill_lv "$vg" "$lv" && continue
        # Seen once (CI, Debian 13 guest, right after lvextend, before any move): dd got EIO from the new LV.
        # Its cause is not known yet: log what the kernel says, note it for the run's summary, write again.
        kernel_report
        note setup-io-retry "dd to $vg/$lv failed before any move; the kernel log is in the phase log"
        udevadm settle
        fill_lv "$vg" "$lv" || die "fill $vg/$lv"
    done
    sync
    sums "$vg" "$@" > "$OUT/sums.$vg.before"
    cat "$OUT/sums.$vg.before"
}
fill_lv() {
    dd if=/dev/urandom of="/dev/$1/$2" bs=1M oflag=direct status=none \
        count=$(( $(blockdev --getsize64 "/dev/$1/$2") / 1048576 ))
}
sums() {
    local vg=$1 lv; shift
    for lv in "$@"; do
        echo "$lv $(sha256sum < "/dev/mapper/$(dm_name "$vg" "$lv")" | cut -d' ' -f1)"
    done
}
dm_name() { echo "${1//-/--}-${2//-/--}"; }
verify_sums() {
    local vg=$1; shift
    sums "$vg" "$@" > "$OUT/sums.$vg.after"
    if cmp -s "$OUT/sums.$vg.before" "$OUT/sums.$vg.after"; then
        check_pass "checksums-$vg" "$*"
    else
        check_fail "checksums-$vg" "$(paste -d' ' "$OUT/sums.$vg.before" "$OUT/sums.$vg.after" | tr '\n' ';')"
    fi
}
check_vgck() { if vgck "$1" > "$OUT/vgck.$1.txt" 2>&1; then check_pass "vgck-$1"; else check_fail "vgck-$1" "$(cat "$OUT/vgck.$1.txt")"; fi; }

# Which PVs hold the extents of VG/LV (sorted, unique device paths).
lv_pvs() { lvs --readonly --noheadings -o devices "$1/$2" | tr ',' '\n' | sed 's/(.*//; s/ //g' | sort -u | tr '\n' ' '; }

lvpoll_count() {  # number of lvpoll / pvmove poller processes for VG/LV
    ps -eo args= | grep -E "(lvpoll|pvmove).*$1/$2|pvmove -i|pvmove -b" | grep -v grep | wc -l
}

# Record LVM's and the kernel's view into $OUT/capture/<name>/.
capture() {
    local name=$1 d="$OUT/capture/$1" vg dm f
    mkdir -p "$d"
    lvs_json > "$d/lvs-readonly.json" 2> "$d/lvs-readonly.json.err"
    lvs -a --segments --reportformat json --units b --nosuffix -o "$LVS_FIELDS" > "$d/lvs.json" 2> "$d/lvs.json.err"
    lvs -a --segments -o +devices,seg_pe_ranges,copy_percent,move_pv,lv_role > "$d/lvs-segments.txt" 2>&1
    lvs -a --readonly --reportformat json -o vg_name,lv_name,lv_uuid,lv_attr,move_pv,copy_percent,lv_layout,lv_role,devices > "$d/lvs-plain.json" 2>&1
    pvs -o +pv_uuid > "$d/pvs.txt" 2>&1
    dmsetup table > "$d/dmsetup-table.txt" 2>&1
    dmsetup status > "$d/dmsetup-status.txt" 2>&1
    dmsetup info -c > "$d/dmsetup-info-c.txt" 2>&1
    dmsetup info -c --noheadings --separator : -o name,uuid,attr > "$d/dmsetup-info-fields.txt" 2>&1
    for f in /sys/block/dm-*; do
        [ -e "$f/dm/name" ] && echo "$(basename "$f") $(cat "$f/dm/name") $(cat "$f/dm/uuid") suspended=$(cat "$f/dm/suspended" 2>/dev/null) dev=$(cat "$f/dev")"
    done > "$d/sys-block-dm.txt"
    : > "$d/udevadm-info.txt"
    for dm in $(dmsetup info -c --noheadings -o name 2>/dev/null); do
        echo "=== /dev/mapper/$dm" >> "$d/udevadm-info.txt"
        udevadm info "/dev/mapper/$dm" >> "$d/udevadm-info.txt" 2>&1
    done
    for vg in $(vgs --noheadings -o vg_name 2>/dev/null); do
        cp "/etc/lvm/backup/$vg" "$d/lvm-backup-$vg.txt" 2>/dev/null
    done
    ps -eo pid,ppid,unit:40,args | grep -E 'lvm|pvmove|lvmove|lvpoll' | grep -v grep > "$d/ps.txt"
    # A VG that is not there, as each generation reports it (2.03.26 on: in the JSON "log", not on stderr).
    lvs_json nosuchvg > "$d/lvs-nosuchvg.json" 2> "$d/lvs-nosuchvg.json.err"; echo "rc=$?" >> "$d/lvs-nosuchvg.json.err"
    # LVM's pollers as /proc shows them (argv spelling of the forked poller differs between generations).
    local pid
    for pid in $(pgrep -f 'lvpoll|pvmove|^[(]l' 2>/dev/null); do  # a forked poller's argv[0] reads (lvm2) or (l
        [ -r "/proc/$pid/cmdline" ] || continue
        { echo "=== $pid exe=$(readlink "/proc/$pid/exe") comm=$(cat "/proc/$pid/comm")"
          tr '\0' '|' < "/proc/$pid/cmdline"; echo
          grep -E '^(Name|State|PPid|SigCgt|SigBlk):' "/proc/$pid/status"; } >> "$d/proc-pollers.txt" 2>&1
    done
    lvmpolld --dump > "$d/lvmpolld-dump.txt" 2>&1
    systemctl list-units --all --no-pager 'lvmove@*' 'lvm*' > "$d/units.txt" 2>&1
    log "captured $name"
}

begin() {
    lvm_overlay
    log "phase $PHASE start: $(uname -r), $(lvm version | head -1 | sed 's/ *LVM version: *//')"
}

# ---- lvmove helpers -------------------------------------------------------------------------------------
MSG_STARTED=bb28971395f44da3aeb2c17d7201a76c
MSG_PROGRESS=f7324d3d0dce4081aabf9099b45a993b
MSG_COMPLETED=04a5bdd38d1b477993e90fd0e0643dfd
MSG_FAILED=b250cf1983d449d7a63edda86f60037f
MSG_ABORTED=20acfd1afbbc40ea96a9fda23056bcfd

unit_of() { systemd-escape --template=lvmove@.service "$1"; }
unit_state() { systemctl show -p ActiveState --value "$1" 2>/dev/null; }
unit_status_text() { systemctl show -p StatusText --value "$1" 2>/dev/null; }
# How many entries of UNIT (a name or glob) since CURSOR carry MESSAGE_ID. The unit's entries are read whole and the
# id looked for in them: systemd 252's journalctl returned nothing for `--after-cursor C -u UNIT MESSAGE_ID=X`
# (bookworm s16, while the unit's journal after C held the entry; `-b -u UNIT MESSAGE_ID=X` works there).
msgs_since() {
    journalctl --after-cursor="$1" --no-pager -o export -u "$2" 2>/dev/null | grep -a -c -x "MESSAGE_ID=$3"
}
# Has the unit's journal (this boot) a message with this MESSAGE_ID?
unit_has_msg() { journalctl -b -u "$1" "MESSAGE_ID=$2" -o cat --no-pager 2>/dev/null | grep -q .; }
save_unit_journal() {  # save_unit_journal UNIT NAME
    journalctl -b -u "$1" -o short-monotonic --no-pager > "$OUT/journal-$2.txt" 2>&1
    journalctl -b -u "$1" -o json --no-pager > "$OUT/journal-$2.json" 2>&1
}

# wait_unit_says UNIT TEXT SECONDS: until UNIT's journal of this boot has a message with TEXT (0), else 1.
wait_unit_says() {
    local end=$(( $(date +%s) + $3 ))
    while [ "$(date +%s)" -lt "$end" ]; do
        [ -n "$(journalctl -b -u "$1" -o cat --no-pager --grep "$2" 2>/dev/null)" ] && return 0
        sleep 0.5
    done
    return 1
}

# Wait until UNIT is active (or the move is already gone); sets UNIT_SEEN=1 if it was seen running.
wait_unit_active() {
    local unit=$1 vg=$2 timeout=$3 end s
    UNIT_SEEN=0
    end=$(( $(date +%s) + timeout ))
    while [ "$(date +%s)" -lt "$end" ]; do
        s=$(unit_state "$unit")
        if [ "$s" = active ] || [ "$s" = activating ]; then UNIT_SEEN=1; log "$unit is $s"; return 0; fi
        # A VG whose PVs the boot has not scanned yet is not "no pvmove LV" (seen on sid: the scenario
        # began at 51 s, the VG's disks were scanned and it was activated at 66 s; and once only one of
        # its two disks had been seen).
        if vg_whole_without_pvmove "$vg"; then log "$vg has no pvmove LV any more (unit state $s)"; return 1; fi
        sleep 0.5
    done
    log "timeout: $unit not active (state $s)"
    return 1
}
wait_unit_inactive() {
    local unit=$1 timeout=$2 end s
    end=$(( $(date +%s) + timeout ))
    while [ "$(date +%s)" -lt "$end" ]; do
        s=$(unit_state "$unit")
        case "$s" in active|activating|deactivating) sleep 0.5 ;; *) log "$unit is $s"; return 0 ;; esac
    done
    log "timeout: $unit still $s"
    return 1
}

# Sample progress of VG/LV while its unit runs: StatusText, lvs percent, `lvmove status --json`.
# Sets PROGRESS_SEEN=1 when StatusText showed a percentage. Returns when the move is gone or after N samples.
sample_progress() {
    local vg=$1 lv=$2 unit=$3 n=$4 i st
    PROGRESS_SEEN=${PROGRESS_SEEN:-0}
    for i in $(seq 1 "$n"); do
        has_pvmove "$vg" || return 0
        st=$(unit_status_text "$unit")
        echo "t=$(t) lvs=$(lvs_percent "$vg" "$lv") status='$st' pollers=$(lvpoll_count "$vg" "$lv")" \
            "dm=[$(dmsetup status "$(dm_name "$vg" "$lv")" 2>/dev/null | awk '$3 == "mirror" {print $7}' | tr '\n' ' ')]" \
            "suspended=$(dmsetup info -c --noheadings -o suspended "$(dm_name "$vg" "$lv")" 2>/dev/null)" >> "$OUT/progress-$vg.txt"
        case "$st" in *%*) PROGRESS_SEEN=1 ;; esac
        sleep 1
    done
}

# Compare `lvmove status --json` with lvs (read just before and after); record into $OUT/status-compare.txt.
compare_status_percent() {
    local vg=$1 lv=$2 before after
    before=$(lvs_percent "$vg" "$lv")
    lvmove status --json > "$OUT/status-$vg.json" 2> "$OUT/status-$vg.err"
    systemctl status --no-pager "$(unit_of "$vg/$lv")" > "$OUT/systemctl-status-$vg.txt" 2>&1
    after=$(lvs_percent "$vg" "$lv")
    python3 - "$vg" "$lv" "$before" "$after" "$OUT/status-$vg.json" "$OUT/systemctl-status-$vg.txt" <<'PY'
import json, re, sys
vg, lv, before, after, path, sysst = sys.argv[1:7]
if not before or not after:  # the move ended around the sample: nothing to compare (not counted)
    print(f"lvs before={before or '-'} after={after or '-'}: the move ended during the sample, not counted")
    sys.exit(2)
try:
    moves = json.load(open(path))["moves"]
except (OSError, ValueError, KeyError) as exc:
    print(f"lvmove status --json unreadable: {exc}"); sys.exit(1)
row = next((m for m in moves if m.get("vg") == vg and m.get("lv") == lv), None)
pct = row.get("percent") if row else None
# lvs and lvmove are read at slightly different moments (lvmove: its last tick, up to ~1 s old); both
# count the kernel's in-sync regions, so allow one 5 % step of slack around the two lvs readings.
lo, hi = float(before or 0) - 5, float(after or 100) + 5
# The unit runs (the caller saw it activating): status must say so (systemctl show of lvmove@*.service).
ustate = row.get("unit_state") if row else None
ok = pct is not None and lo <= float(pct) <= hi and ustate == "activating"
text = open(sysst).read()
m = re.search(r"Status: \"[^\"]*?(\d+(?:\.\d+)?)\s*%", text)
spct = float(m.group(1)) if m else None
sok = spct is not None and lo <= spct <= hi
print(f"lvs before={before} lvmove status={pct if row else 'NO ROW'} ({ustate}) systemctl status={spct} lvs after={after}"
      f" -> json {'ok' if ok else 'BAD'}, systemctl {'ok' if sok else 'BAD'}")
sys.exit(0 if ok and sok else 1)
PY
}

# Does the unit's StatusText follow the move? PASS when, in one of 3 tries, its percent lies within one
# 5 % step of lvs read just before and after it (a frozen status shows up as a growing gap).
status_follows_lvs() {
    local vg=$1 lv=$2 unit=$3 i before after st
    for i in 1 2 3; do
        has_pvmove "$vg" || return 0
        before=$(lvs_percent "$vg" "$lv")
        st=$(unit_status_text "$unit" | grep -o '[0-9.]*%' | head -1 | tr -d %)
        after=$(lvs_percent "$vg" "$lv")
        log "status-follows-lvs: lvs $before..$after, unit status ${st:-none}"
        if [ -n "$st" ] && python3 -c "import sys; sys.exit(0 if float('${before:-0}') - 5 <= float('$st') <= float('${after:-100}') + 5 else 1)"; then
            return 0
        fi
        sleep 1
    done
    return 1
}

# Leave nothing broken behind (every machine, at its end): no pvmove LV and no orphan pvmoveN of any kind
# left in VG, no failed lvmove unit, and no lvmove unit ever started for a pvmove sub-LV (the _mimage_N
# images of an --atomic move) in this boot.
check_nothing_broken() {
    local vg=$1 left failed sub
    left=$(lvs -a --readonly --noheadings -o lv_name "$vg" 2>/dev/null | tr -d ' []' | grep '^pvmove' | tr '\n' ' ')
    failed=$(systemctl --failed --no-legend --plain 2>/dev/null | awk '{print $1}' | grep '^lvmove' | tr '\n' ' ')
    sub=$(journalctl -b --no-pager -o cat -u 'lvmove@*_mimage_*' 2>/dev/null | head -3 | tr '\n' ';')
    systemctl --failed --no-pager > "$OUT/systemctl-failed.txt" 2>&1
    if [ -z "$left$failed$sub" ]; then check_pass "nothing-broken-$vg"
    else check_fail "nothing-broken-$vg" "left LVs: ${left:-none}; failed units: ${failed:-none}; sub-LV units: ${sub:-none}"; fi
}
