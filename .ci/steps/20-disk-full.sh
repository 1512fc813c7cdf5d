#!/usr/bin/env bash
# Disk full, for real (docs/RELIABILITY.md, "Disk full and failed writes"). Needs root (CI runs
# as root) to mount small tmpfs file systems. About 1-2 minutes on 2 cores, bounded by timeouts.
#  1. The store's tmpfs tests: fill, free, fill again while recording; close, import and
#     segment creation on a full disk. NORTHSTAR_REQUIRE_ROOT_TESTS=1 makes them fail, not
#     skip, if they cannot mount.
#  2. The real demo on a 256 MiB tmpfs while a background loop fills it to the last byte and
#     frees it, over and over: the demo must finish, `verify` must exit 0, and `stats` must add
#     up with what the demo says it recorded, dropped and stored.
set -euo pipefail

NORTHSTAR_REQUIRE_ROOT_TESTS=1 timeout 600 cargo test -j2 -p northstar-store --test disk_full

timeout 900 cargo build -j2 --release -p northstar-cli
bin=target/release/northstar

mnt="$(mktemp -d)"
filler_pid=""
# Stops the fill loop and the dd or sleep it is running (its children, by parent id).
stop_filler() {
    if [ -n "$filler_pid" ]; then
        kill "$filler_pid" 2>/dev/null || true
        pkill -P "$filler_pid" 2>/dev/null || true
        wait "$filler_pid" 2>/dev/null || true
        filler_pid=""
    fi
}
cleanup() {
    stop_filler
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        umount "$mnt" 2>/dev/null && break
        sleep 0.5
    done
    rmdir "$mnt" 2>/dev/null || true
}
trap cleanup EXIT
mount -t tmpfs -o size=256m tmpfs "$mnt"
data="$mnt/data"

# Full for 0.4 s, free for 0.4 s, until killed. dd stops at ENOSPC with the disk full; each
# time it does, one line goes to $fills (outside the tmpfs).
fills="$(mktemp)"
(
    while :; do
        if ! dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null; then echo full >>"$fills"; fi
        sleep 0.4
        rm -f "$mnt/filler"
        sleep 0.4
    done
) &
filler_pid=$!

out="$(mktemp)"
timeout 120 "$bin" demo --dir "$data" --duration 3 --threads 2 | tee "$out"

stop_filler
rm -f "$mnt/filler"
full_times="$(wc -l <"$fills")"
rm -f "$fills"
echo "the tmpfs was filled to ENOSPC $full_times times while the demo ran"
[ "$full_times" -ge 3 ] || { echo "FAIL: the disk was not filled while the demo ran"; exit 1; }

timeout 60 "$bin" verify --dir "$data"
stats="$(timeout 60 "$bin" stats --dir "$data")"
echo "$stats"

# events:   N recorded on the hot path, D dropped or refused, S stored by this run (incl. B benchmark samples)
line="$(grep '^events:' "$out")"
recorded="$(sed -E 's/^events: +([0-9]+) recorded.*/\1/' <<<"$line")"
dropped="$(sed -E 's/.* ([0-9]+) dropped or refused.*/\1/' <<<"$line")"
stored="$(sed -E 's/.* ([0-9]+) stored by this run.*/\1/' <<<"$line")"
bench="$(sed -E 's/.*incl\. ([0-9]+) benchmark samples.*/\1/' <<<"$line")"
st_events="$(awk '$1 == "events" { print $2 }' <<<"$stats")"
st_dropped="$(awk '$1 == "dropped" { print $2 }' <<<"$stats")"
echo "demo: recorded $recorded, dropped $dropped, stored $stored (incl. $bench samples); stats: events $st_events, dropped $st_dropped"
fail=0
[ "$st_events" = "$stored" ] || { echo "FAIL: stats events $st_events != stored $stored"; fail=1; }
[ "$st_dropped" = "$dropped" ] || { echo "FAIL: stats dropped $st_dropped != dropped $dropped"; fail=1; }
[ $((recorded + bench)) = "$stored" ] || { echo "FAIL: recorded $recorded + $bench samples != stored $stored"; fail=1; }
rm -f "$out"
if [ "$fail" != 0 ]; then exit 1; fi
echo "disk full: demo stored + dropped = recorded through a filling and freeing tmpfs; verify clean"
