# Common phase-1 setup: VG "$VG" on pv1..pvN, lv1 (two segments) and lv2 on pv1: a by-segment move of
# pv1 has three segments (16 MiB, 8 MiB, 16 MiB with 4 MiB extents).
setup_vg() {  # setup_vg N: VG "$VG" on pv1..pvN
    setup_vg_on "$VG" 1 "$1"
}
# setup_vg_on VG FIRST COUNT [SEG_MIB]: VG on pvFIRST.. (COUNT disks); lv1 (2 x SEG_MIB) and lv2
# (SEG_MIB/2) on the first disk, interleaved so a by-segment move of it has three segments.
setup_vg_on() {
    local vg=$1 first=$2 n=$3 seg=${4:-16} k devs=()
    wait_pvdevs $((first + n - 1))
    for k in $(seq "$first" $((first + n - 1))); do devs+=("$(pvdev "$k")"); done
    cmd wipefs -q -a "${devs[@]}"
    cmd pvcreate -q -y "${devs[@]}" || die pvcreate
    cmd vgcreate -q "$vg" "${devs[@]}" || die vgcreate
    cmd lvcreate -q -y -n lv1 -L "${seg}M" "$vg" "${devs[0]}" || die lvcreate
    cmd lvcreate -q -y -n lv2 -L "$((seg / 2))M" "$vg" "${devs[0]}" || die lvcreate
    cmd lvextend -q -L "+${seg}M" "$vg/lv1" "${devs[0]}" || die lvextend
    lvs -a --segments -o +devices "$vg"
    fill_lvs "$vg" lv1 lv2
}
