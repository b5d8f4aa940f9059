# Common phase-1 setup: VG "$VG" on pv1..pvN, lv1 (two segments) and lv2 on pv1: a by-segment move of
# pv1 has three segments (16 MiB, 8 MiB, 16 MiB with 4 MiB extents).
setup_vg() {
    local n=$1 k devs=()
    wait_pvdevs "$n"
    for k in $(seq 1 "$n"); do devs+=("$(pvdev "$k")"); done
    cmd wipefs -q -a "${devs[@]}"
    cmd pvcreate -q -y "${devs[@]}" || die pvcreate
    cmd vgcreate -q "$VG" "${devs[@]}" || die vgcreate
    cmd lvcreate -q -y -n lv1 -L 16M "$VG" "${devs[0]}" || die lvcreate
    cmd lvcreate -q -y -n lv2 -L 8M "$VG" "${devs[0]}" || die lvcreate
    cmd lvextend -q -L +16M "$VG/lv1" "${devs[0]}" || die lvextend
    lvs -a --segments -o +devices "$VG"
    fill_lvs "$VG" lv1 lv2
}
