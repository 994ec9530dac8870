#!/usr/bin/env bash
# Benchmark: build `cc` (Debian 13, host arch) cold and warm with distroless, and the same
# package set with the peer path (mmdebstrap --variant=extract + umoci), in the same run.
# Prints times, the ratios, peak memory and the compressed size of `static`.
# Needs: mmdebstrap, umoci, /usr/bin/time (apt-get install -y mmdebstrap umoci time).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p distroless
bin="$PWD/target/release/distroless"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
suite=trixie
# The peer uses the same mirror as we do: the first URI of the host's apt sources.
mirror="$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
[ -n "$mirror" ] || mirror="$(awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /:\/\//) {print $i; exit}}' /etc/apt/sources.list)"

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }
peak() { /usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -1; }

# distroless, cold: empty cache.
t0=$(now); "$bin" build cc -q --cache-dir "$work/cache" -o "$work/cc-cold"; t1=$(now)
cold=$(elapsed "$t0" "$t1")
# distroless, warm: same cache, best of 5.
warm=999
for _ in 1 2 3 4 5; do
    t0=$(now); "$bin" build cc -q --cache-dir "$work/cache" -o "$work/cc-warm"; t1=$(now)
    w=$(elapsed "$t0" "$t1"); if (( $(echo "$w < $warm" | bc) )); then warm=$w; fi
done
mem_cold_kb=$(rm -rf "$work/cache2"; peak "$bin" build cc -q --cache-dir "$work/cache2" -o "$work/cc-mem")
mem_warm_kb=$(peak "$bin" build cc -q --cache-dir "$work/cache2" -o "$work/cc-mem")

# The same package set for the peer.
pkgs=$("$bin" build cc --dry-run --json --cache-dir "$work/cache" | python3 -c \
  'import json,sys; p=json.load(sys.stdin)[0]; print(",".join(x["name"] for t in p["tiers"] for x in t["packages"]))')

peer() {
    rm -rf "$work/peer" && mkdir -p "$work/peer"
    mmdebstrap --quiet --variant=extract --include="$pkgs" "$suite" "$work/peer/rootfs.tar" "$mirror" 2>/dev/null
    umoci init --layout "$work/peer/oci"
    umoci new --image "$work/peer/oci:cc"
    umoci unpack --rootless --image "$work/peer/oci:cc" "$work/peer/bundle" >/dev/null
    tar -xf "$work/peer/rootfs.tar" -C "$work/peer/bundle/rootfs"
    umoci repack --image "$work/peer/oci:cc" "$work/peer/bundle"
}
t0=$(now); peer; t1=$(now)
peer_time=$(elapsed "$t0" "$t1")

static_size=$("$bin" build static -q --cache-dir "$work/cache" -o "$work/static" --json | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["manifests"][0]["compressed_size"])')

printf 'packages: %s\n' "$pkgs"
printf 'distroless cc cold:          %6.3f s  (peak %d KiB)\n' "$cold" "$mem_cold_kb"
printf 'distroless cc warm:          %6.3f s  (peak %d KiB)\n' "$warm" "$mem_warm_kb"
printf 'mmdebstrap+umoci cc:         %6.3f s\n' "$peer_time"
printf 'ratio peer/warm:             %6.1fx  (target >= 10x)\n' "$(echo "$peer_time / $warm" | bc -l)"
printf 'ratio peer/cold:             %6.2fx  (target >= 1x)\n' "$(echo "$peer_time / $cold" | bc -l)"
printf 'static compressed:           %6.3f MiB (target < 2 MiB)\n' "$(echo "$static_size / 1048576" | bc -l)"
