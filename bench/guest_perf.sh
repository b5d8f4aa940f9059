#!/bin/bash
# Guest side of bench/perf.py: stock LVM polling and lvmove side by side on the same disks and throttle.
# Writes JSON lines to $OUT/bench.jsonl. Phase 1 only (no crash).
. "$SHARE/lib.sh"
ROUNDS=${ROUNDS:-3}
SEGMENTS=${SEGMENTS:-6}
SEG_MIB=${SEG_MIB:-8}
BPS=${BPS:-4194304}
MANY=${MANY:-100}
RESULTS="$OUT/bench.jsonl"
VG=bench

cpu_ns() { systemctl show -p CPUUsageNSec --value "$1" 2>/dev/null | sed 's/\[not set\]/0/'; }
consumed_s() {  # CPU seconds systemd reported for the last run of a unit (journal "Consumed ... CPU time")
    journalctl -q -o cat -u "$1" --since "@$2" | sed -n 's/.*Consumed \([0-9.]*\)\(m\?s\) CPU time.*/\1 \2/p' |
        tail -n 1 | awk '{ if ($2 == "ms") print $1 / 1000; else print $1 }'
}

install_lvmove
systemctl start lvm2-lvmpolld.socket
wait_pvdevs 3
P1=$(pvdev 1); P2=$(pvdev 2)
cmd wipefs -q -a "$P1" "$P2" "$(pvdev 3)"
cmd pvcreate -q -y "$P1" "$P2" || die pvcreate
cmd vgcreate -q -s 4m "$VG" "$P1" "$P2" || die vgcreate
# fresh_layout: three LVs interleaved on P1 so that a move of P1 has $SEGMENTS segments, filled with
# random data (unthrottled), checksums recorded. Every measured move starts from this same layout.
fresh_layout() {
    local i lv
    req throttle 0
    lvremove -q -y "$VG" > /dev/null 2>&1
    for i in $(seq 1 "$SEGMENTS"); do
        lv=lv$(( (i - 1) % 3 + 1 ))
        if lvs "$VG/$lv" > /dev/null 2>&1; then
            lvextend -q -L "+${SEG_MIB}M" "$VG/$lv" "$P1" > /dev/null || die lvextend
        else
            lvcreate -q -y -n "$lv" -L "${SEG_MIB}M" "$VG" "$P1" > /dev/null || die lvcreate
        fi
    done
    fill_lvs "$VG" lv1 lv2 lv3 > /dev/null
    req throttle "$BPS"
}
fresh_layout
lvs -a --segments -o +devices "$VG"

src=$P1 dst=$P2
one_move() {  # one_move MODE ROUND: move P1 -> P2 from the fresh layout
    local mode=$1 round=$2 t0 t1 cpu0 cpu1 since mon unit_cpu="" lvm_cmds="" poll_mode="" cpu_self="" cpu_cmds=""
    since=$(date +%s)
    python3 "$SHARE/monitor.py" "$VG-pvmove0" --cgroup stock=/sys/fs/cgroup/system.slice/lvm2-lvmpolld.service \
        --cgroup lvmove=/sys/fs/cgroup/system.slice/system-lvmove.slice/lvmove@bench-pvmove0.service \
        --poller "$VG/pvmove0=$src" > "$OUT/mon.json" &
    mon=$!
    cpu0=$(cpu_ns lvm2-lvmpolld.service)
    t0=$(date +%s.%N)
    if [ "$mode" = stock ]; then
        cmd systemctl mask --runtime lvmove@.service > /dev/null; systemctl stop "lvmove@*" 2>/dev/null
        cmd pvmove -b -i 15 "$src" "$dst" || die "pvmove failed"
    else
        cmd systemctl unmask --runtime lvmove@.service > /dev/null
        cmd lvmove move "$src" "$dst" || die "lvmove move failed"
    fi
    wait "$mon"
    t1=$(date +%s.%N)
    wait_no_pvmove "$VG" 120 || die "move did not end"
    cpu1=$(cpu_ns lvm2-lvmpolld.service)
    if [ "$mode" = lvmove ]; then
        sleep 1
        unit_cpu=$(consumed_s lvmove@bench-pvmove0.service "$since")
        lvm_cmds=$(journalctl -q -o export -u lvmove@bench-pvmove0.service --since "@$since" |
            sed -n 's/^LVMOVE_LVM_COMMANDS=//p' | tail -n 1)
        poll_mode=$(journalctl -q -o export -u lvmove@bench-pvmove0.service --since "@$since" |
            sed -n 's/^LVMOVE_POLL_MODE=//p' | tail -n 1)
        # lvmove's own CPU and that of the commands it waited for (the completion entry): the rest of the
        # unit's CPU is LVM's forked poller.
        cpu_self=$(journalctl -q -o export -u lvmove@bench-pvmove0.service --since "@$since" |
            sed -n 's/^LVMOVE_CPU_SELF=//p' | tail -n 1)
        cpu_cmds=$(journalctl -q -o export -u lvmove@bench-pvmove0.service --since "@$since" |
            sed -n 's/^LVMOVE_CPU_COMMANDS=//p' | tail -n 1)
        journalctl -o short-monotonic --no-pager -u lvmove@bench-pvmove0.service --since "@$since" \
            > "$OUT/journal-lvmove-$round.txt" 2>&1
    fi
    python3 - "$mode" "$round" "$t0" "$t1" "$cpu0" "$cpu1" "${unit_cpu:-0}" "${lvm_cmds:-}" "$OUT/mon.json" \
        "${poll_mode:-}" "${cpu_self:-}" "${cpu_cmds:-}" >> "$RESULTS" <<'PY'
import json, sys
mode, rnd, t0, t1, c0, c1, unit_cpu, cmds, mon, poll_mode, cpu_self, cpu_cmds = sys.argv[1:]
m = json.load(open(mon))
print(json.dumps({"kind": "move", "mode": mode, "round": int(rnd), "wall": float(t1) - float(t0),
                  "lvmpolld_cpu": (int(c1 or 0) - int(c0 or 0)) / 1e9, "unit_cpu": float(unit_cpu),
                  "lvm_commands": int(cmds) if cmds else None, "poll_mode": poll_mode, "monitor": m,
                  "cpu_self": float(cpu_self) if cpu_self else None,
                  "cpu_commands": float(cpu_cmds) if cpu_cmds else None}))
PY
    sums "$VG" lv1 lv2 lv3 > "$OUT/sums.after"
    cmp -s "$OUT/sums.$VG.before" "$OUT/sums.after" && check_pass "checksums-$mode-$round" || check_fail "checksums-$mode-$round"
}
for r in $(seq 1 "$ROUNDS"); do
    fresh_layout; one_move stock "$r"
    fresh_layout; one_move lvmove "$r"
done
fresh_layout

# Resume latency: an inactive move becomes active -> how soon does its unit start?
cmd systemctl mask --runtime lvmove@.service > /dev/null; systemctl stop "lvmove@*" 2>/dev/null
python3 -c "from lvmove_hooks import lvm; lvm.start_move('$src', ['$dst'], lv=None, atomic=False)" || die "setup move"
cmd vgchange -q -an "$VG"
cmd systemctl unmask --runtime lvmove@.service > /dev/null
for i in 1 2 3; do
    since=$(date +%s.%N)
    python3 - "$VG-pvmove0" > "$OUT/appear.txt" <<'PY' &
import os, sys, time
name = sys.argv[1]
while not os.path.exists("/dev/mapper/" + name):
    time.sleep(0.005)
print(f"{time.time():.6f}")
PY
    app=$!
    cmd lvchange -q -ay --poll n "$VG/lv1" "$VG/lv2" "$VG/lv3"
    wait "$app"
    appeared=$(cat "$OUT/appear.txt")
    for k in $(seq 1 100); do
        started=$(journalctl -q -o json -u lvmove@bench-pvmove0.service --since "@${since%.*}" |
            python3 -c 'import json,sys
since = float(sys.argv[1])
for line in sys.stdin:
    e = json.loads(line)
    ts = int(e["__REALTIME_TIMESTAMP"]) / 1e6
    if ts >= since and str(e.get("MESSAGE", "")).startswith("Starting"):
        print(ts); break' "$since")
        [ -n "$started" ] && break
        sleep 0.1
    done
    echo "{\"kind\": \"resume\", \"appeared\": $appeared, \"unit_started\": ${started:-null}}" >> "$RESULTS"
    cmd systemctl stop lvmove@bench-pvmove0.service
    cmd vgchange -q -an "$VG"
done
cmd lvchange -q -ay --poll n "$VG/lv1" "$VG/lv2" "$VG/lv3"
cmd lvmove start "$VG/pvmove0"
wait_no_pvmove "$VG" 300 || die "resume move did not end"

# lvmove status with MANY moves in flight: MANY small VGs on loop devices, every move set up and left unpolled.
cmd systemctl mask --runtime lvmove@.service > /dev/null; systemctl stop "lvmove@*" 2>/dev/null
req throttle 0
# LVM's udev rule runs pvscan (and may autoactivate a VG) on every PV event, beside the set-up's own LVM calls
# on the guest's 2 CPUs. The status figure reads no udev state, so the rule is masked for the set-up.
ln -sf /dev/null /etc/udev/rules.d/69-dm-lvm.rules && udevadm control --reload
python3 "$SHARE/many_moves.py" "$MANY" /var/tmp/pv --workers 3 >> "$RESULTS" || log "not every move was set up"
made=$(lvs -a --noheadings -o lv_name 2>/dev/null | grep -c '\[pvmove')
log "moves in flight: $made"
cd / || die "cd /"  # not the 9p share: python3 -c looks up every import in its working directory first
for i in 1 2 3 4 5; do
    s=$(date +%s.%N); lvmove status --json > "$OUT/status-many.json"; e=$(date +%s.%N)
    s2=$(date +%s.%N); lvs -a -o +copy_percent > /dev/null; e2=$(date +%s.%N)
    # Again with -v: its log says which commands ran and how long each took; the rest is lvmove's own time.
    s3=$(date +%s.%N); lvmove -v status --json 2> "$OUT/status-v.err" > /dev/null; e3=$(date +%s.%N)
    calls=$(grep -c "run: lvm " "$OUT/status-v.err")
    # lvs and systemctl show run at once: the longer one is what the commands add.
    cmds_s=$(sed -n 's/.* ok in \([0-9.]*\)s:.*/\1/p' "$OUT/status-v.err" | awk '$1 > t {t = $1} END {print t + 0}')
    echo "{\"kind\": \"status\", \"moves\": $made, \"listed\": $(python3 -c "import json;print(len(json.load(open('$OUT/status-many.json'))['moves']))"), \"lvmove_s\": $(awk "BEGIN{print $e - $s}"), \"lvs_s\": $(awk "BEGIN{print $e2 - $s2}"), \"lvm_calls\": $calls, \"own_s\": $(awk "BEGIN{print $e3 - $s3 - $cmds_s}")}" >> "$RESULTS"
done
# Where the status time goes: interpreter start, lvmove's imports, the one report, the unit states.
lvs_argv=$(lvmove -v status --json 2>&1 >/dev/null | sed -n 's/^lvmove: run: \(lvm lvs .*\)$/\1/p' | head -n 1)
# (The log quotes the glob 'lvmove@*.service' as a shell would; the quotes go, and set -f keeps it a glob.)
sd_argv=$(lvmove -v status --json 2>&1 >/dev/null | sed -n "s/^lvmove: run: \(systemctl .*\)$/\1/p" | head -n 1 |
    tr -d "'")
log "status runs: [$lvs_argv] [$sd_argv]"
span() { local s e; s=$(date +%s.%N); "$@" > /dev/null 2>&1; e=$(date +%s.%N); awk "BEGIN{print $e - $s}"; }
for i in 1 2 3; do
    py=$(span python3 -c pass)
    imp=$(span python3 -c 'import lvmove_hooks.cli')
    # shellcheck disable=SC2086
    rep=$(span $lvs_argv)
    # shellcheck disable=SC2086
    sd=$( [ -n "$sd_argv" ] && set -f && span $sd_argv || echo 0)
    echo "{\"kind\": \"status_parts\", \"python\": $py, \"import\": $imp, \"report\": $rep, \"systemctl\": $sd}" >> "$RESULTS"
done
log "bench done"
