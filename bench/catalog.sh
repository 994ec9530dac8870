#!/usr/bin/env bash
# Benchmark: the whole catalog (Debian 13, host arch) cold and warm, java21's peak memory
# while streaming its ~40 MB JRE package, and, in the same run, the java21 package set with
# the peer path (mmdebstrap --variant=extract + umoci) for a ratio.
# Needs: mmdebstrap, umoci, bc, /usr/bin/time (apt-get install -y mmdebstrap umoci bc time).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p distroless
bin="$PWD/target/release/distroless"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
images=(static base-nossl base cc python3 java21 nodejs)
mirror="$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
[ -n "$mirror" ] || mirror="$(awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /:\/\//) {print $i; exit}}' /etc/apt/sources.list)"

now() { date +%s.%N; }
catalog() {
    for i in "${images[@]}"; do "$bin" build "$i" -q --sbom none --cache-dir "$1" -o "$work/out-$i"; done
}

t0=$(now); catalog "$work/cache"; t1=$(now)
cold=$(echo "$t1 - $t0" | bc)
t0=$(now); catalog "$work/cache"; t1=$(now)
warm=$(echo "$t1 - $t0" | bc)

java_mem=$( { /usr/bin/time -f "%M" "$bin" build java21 -q --sbom none --cache-dir "$work/cache-java" -o "$work/java" >/dev/null; } 2>&1 | tail -1)

pkgs=$("$bin" build java21 --dry-run --json --cache-dir "$work/cache" | python3 -c \
  'import json,sys; p=json.load(sys.stdin)[0]; print(",".join(x["name"] for t in p["tiers"] for x in t["packages"]))')
t0=$(now)
mkdir -p "$work/peer"
mmdebstrap --quiet --variant=extract --include="$pkgs" trixie "$work/peer/rootfs.tar" "$mirror" 2>/dev/null
umoci init --layout "$work/peer/oci"
umoci new --image "$work/peer/oci:java"
umoci unpack --rootless --image "$work/peer/oci:java" "$work/peer/bundle" >/dev/null
tar -xf "$work/peer/rootfs.tar" -C "$work/peer/bundle/rootfs"
umoci repack --image "$work/peer/oci:java" "$work/peer/bundle"
t1=$(now)
peer=$(echo "$t1 - $t0" | bc)
t0=$(now); "$bin" build java21 -q --sbom none --cache-dir "$work/cache-java2" -o "$work/java2"; t1=$(now)
ours=$(echo "$t1 - $t0" | bc)

printf 'catalog (%s), cold:   %7.2f s\n' "${images[*]}" "$cold"
printf 'catalog, warm:          %7.2f s\n' "$warm"
printf 'java21 cold peak memory: %6.1f MiB (target < 100 MiB)\n' "$(echo "$java_mem / 1024" | bc -l)"
printf 'java21 cold: distroless %6.2f s, mmdebstrap+umoci %6.2f s, ratio %5.2fx\n' "$ours" "$peer" "$(echo "$peer / $ours" | bc -l)"
