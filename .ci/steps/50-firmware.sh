#!/usr/bin/env bash
# Firmware for real: the same application on three emulated boards (Cortex-M0 micro:bit,
# Cortex-M4 MPS2-AN386, RISC-V virt), each run in QEMU until it exits through semihosting (or
# the virt test device); each UART stream is ingested with `northstar ingest` and the store is
# checked against the device's own counters: stored + dropped = attempted, nothing lost on
# the link. Bounded: each QEMU run has a 120 s timeout (they take about a second).
set -euo pipefail
cd "$(dirname "$0")/../.."
JOBS="-j2"
MANIFEST=examples/firmware/Cargo.toml

if ! command -v qemu-system-arm >/dev/null || ! command -v qemu-system-riscv32 >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        qemu-system-arm qemu-system-misc >/dev/null
fi
qemu-system-arm --version | head -n 1
rustup target add thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf

echo "--- the link crate without std, on every target"
for target in thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf; do
    RUSTFLAGS="-D warnings" cargo build $JOBS -q -p northstar-link --no-default-features --target "$target"
done

echo "--- the firmware library on the host (the same code path, simulated clock)"
cargo test $JOBS --manifest-path "$MANIFEST"
cargo clippy $JOBS --manifest-path "$MANIFEST" --all-targets -- -D warnings

cargo build $JOBS -q --release -p northstar-cli
NS=target/release/northstar
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# board target feature qemu-command...
run_board() {
    local board="$1" target="$2" goal="$3"
    shift 3
    echo "--- $board ($target) in QEMU"
    cargo clippy $JOBS -q --manifest-path "$MANIFEST" --release --target "$target" \
        --features "$board" --bins -- -D warnings
    cargo build $JOBS -q --manifest-path "$MANIFEST" --release --target "$target" \
        --features "$board" --bin "$board"
    local elf="examples/firmware/target/$target/release/$board"
    if command -v size >/dev/null; then
        size -A "$elf" | grep -E '^\.(vector_table|text|rodata|data|bss|init|trap) ' || true
    fi
    # -icount shift=0: one virtual ns per instruction, so the firmware's self-measurement
    # counts instructions; sleep=off: idle time costs no real time.
    timeout 120 "$@" -display none -monitor none -icount shift=0,sleep=off \
        -serial "file:$work/$board.uart" -kernel "$elf"
    local dir="$work/$board.store"
    "$NS" ingest --dir "$dir" --from-serial - --format json < "$work/$board.uart" > "$work/$board.ingest.json"
    "$NS" stats --dir "$dir" --format json > "$work/$board.stats.json"
    "$NS" query --dir "$dir" --format json > "$work/$board.events.jsonl"
    "$NS" query --dir "$dir" --type perf_sample --format json > "$work/$board.perf.jsonl"
    python3 - "$work/$board" "$goal" <<'PY'
import json, sys
base, goal = sys.argv[1], float(sys.argv[2])
ingest = json.load(open(base + ".ingest.json"))
stats = json.load(open(base + ".stats.json"))
events = [json.loads(l) for l in open(base + ".events.jsonl") if l.strip()]
dev = ingest["device"]
print("ingest:", json.dumps(ingest))
print("stats: events %d, dropped %d" % (stats["events"], stats["dropped"]))
assert ingest["problems"] == 0 and ingest["corrupt_frames"] == 0, "damage on the link"
assert ingest["ended"], "no END frame"
assert dev["attempted"] > 700, "the control loop ran"
assert dev["lost"] > 0, "the bursts overflow the ring: drops must be counted"
# Everything the device sent is stored; sent = stored + counted drops.
assert ingest["stored"] == dev["records_sent"] == dev["pushed"], ingest
assert stats["events"] == ingest["stored"] == len(events), (stats["events"], len(events))
assert stats["dropped"] == dev["lost"] + ingest["link_lost"], stats
assert stats["events"] + stats["dropped"] == dev["attempted"], (stats, dev)
costs = {}
for line in open(base + ".perf.jsonl"):
    p = json.loads(line)["payload"]
    if p["metric_name"] == "instructions_per_event":
        costs[p["dimensions"]["event"]] = p["value"]
print("instructions per event:", costs)
assert set(costs) == {"clock_read", "fixed", "perf_sample", "user"}, costs
assert costs["fixed"] <= goal, "fixed event costs %s instructions, goal %s" % (costs["fixed"], goal)
PY
}

run_board microbit thumbv6m-none-eabi 250 \
    qemu-system-arm -M microbit -semihosting-config enable=on,target=native
run_board mps2-an386 thumbv7em-none-eabihf 150 \
    qemu-system-arm -M mps2-an386 -semihosting-config enable=on,target=native
run_board riscv-virt riscv32imc-unknown-none-elf 250 \
    qemu-system-riscv32 -M virt -bios none

echo "--- a damaged stream: 4 bytes of the Cortex-M4's UART lost"
python3 - "$work/mps2-an386.uart" "$work/damaged.uart" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
for at in (20000, 15000, 8000, 3000):
    del data[at]
open(sys.argv[2], "wb").write(data)
PY
status=0
"$NS" ingest --dir "$work/damaged.store" --from-serial "$work/damaged.uart" --format json \
    > "$work/damaged.json" || status=$?
[ "$status" -eq 1 ] || { echo "damage must be reported with exit status 1, got $status"; exit 1; }
"$NS" stats --dir "$work/damaged.store" --format json > "$work/damaged.stats.json"
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
ingest = json.load(open(w + "/damaged.json"))
stats = json.load(open(w + "/damaged.stats.json"))
print("damaged:", json.dumps(ingest))
# Each lost byte costs the frame it hit (two if it was a frame's closing 0x00); the count
# still closes.
assert 1 <= ingest["corrupt_frames"] <= 4, ingest
assert 1 <= ingest["link_lost"] <= 8, ingest
assert stats["events"] + stats["dropped"] == ingest["device"]["attempted"], (stats, ingest)
PY

echo "--- the minimal firmware (one event type, ring, FixedEncoder to UART) on the Cortex-M0"
cargo build $JOBS -q --manifest-path "$MANIFEST" --release --target thumbv6m-none-eabi \
    --features microbit --bin minimal
minimal=examples/firmware/target/thumbv6m-none-eabi/release/minimal
# Flash = everything the ELF loads into flash: vector table + .text + .rodata + the initial
# values of .data (0 here). RAM = .data + .bss (the stack comes on top). Goal: <= 4096 bytes.
python3 - "$minimal" <<'PY'
import struct, sys
# Section sizes from the ELF's section headers (ELF32, little-endian: every target here).
data = open(sys.argv[1], "rb").read()
assert data[:4] == b"\x7fELF" and data[4] == 1 and data[5] == 1, "a 32-bit little-endian ELF"
shoff, = struct.unpack_from("<I", data, 0x20)
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
def header(i):
    return struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize)
names_at = header(shstrndx)[4]
sizes = {}
for i in range(shnum):
    h = header(i)
    name = data[names_at + h[0]:data.index(b"\0", names_at + h[0])].decode()
    sizes[name] = h[5]
flash = sum(sizes.get(s, 0) for s in (".vector_table", ".text", ".rodata", ".data"))
ram = sizes.get(".data", 0) + sizes.get(".bss", 0)
print("minimal: vector table %d + .text %d + .rodata %d + .data %d = %d bytes of flash "
      "(goal <= 4096); RAM %d bytes (.data + .bss, stack not included)"
      % (sizes.get(".vector_table", 0), sizes.get(".text", 0), sizes.get(".rodata", 0),
         sizes.get(".data", 0), flash, ram))
assert flash <= 4096, "the minimal firmware is %d bytes of flash, over 4096" % flash
PY
timeout 60 qemu-system-arm -M microbit -semihosting-config enable=on,target=native \
    -display none -monitor none -serial stdio -kernel "$minimal" \
    | "$NS" ingest --dir "$work/minimal.store" --from-serial - --format json \
    | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("minimal ingest:", json.dumps(s))
assert s["problems"] == 0 and s["corrupt_frames"] == 0 and s["ended"], s
assert s["stored"] == s["device"]["records_sent"] == s["device"]["attempted"] == 100, s
'
"$NS" query --dir "$work/minimal.store" --type agent_session_ended --format json \
    > "$work/minimal.events.jsonl"
python3 - "$work/minimal.events.jsonl" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
events.sort(key=lambda e: e["session_id"])
assert [e["session_id"] for e in events] == list(range(100)), events
# Recorded at 1000 ticks apart on a 16 MHz clock: 62 500 ns apart once stored.
steps = {b["timestamp"] - a["timestamp"] for a, b in zip(events, events[1:])}
assert steps == {62_500}, steps
print("minimal: 100 agent_session_ended events stored, session ids 0..99, 62.5 us apart")
PY

echo "firmware: 3 boards ran in QEMU, their streams ingested and checked"
