#!/usr/bin/env bash
# Benchmark: the whole catalog (Debian 13, host arch) cold and warm, java21's peak memory
# while streaming its ~40 MB JRE package, and, in the same run, the java21 package set with
# the peer path (mmdebstrap --variant=extract + umoci) for a ratio.
# Needs: mmdebstrap, umoci, bc, /usr/bin/time (apt-get install -y mmdebstrap umoci bc time).
source "$(dirname "$0")/lib.sh"
images=(static base-nossl base cc python3 java21 nodejs)

catalog() {
    for i in "${images[@]}"; do "$bin" build "$i" -q --sbom none --cache-dir "$1" -o "$work/out-$i"; done
}

t0=$(now); catalog "$work/cache"; t1=$(now)
cold=$(elapsed "$t0" "$t1")
t0=$(now); catalog "$work/cache"; t1=$(now)
warm=$(elapsed "$t0" "$t1")

java_mem=$(peak "$bin" build java21 -q --sbom none --cache-dir "$work/cache-java" -o "$work/java")

pkgs=$(plan_packages java21 "$work/cache")
t0=$(now); peer_image "$pkgs" trixie; t1=$(now)
peer=$(elapsed "$t0" "$t1")
t0=$(now); "$bin" build java21 -q --sbom none --cache-dir "$work/cache-java2" -o "$work/java2"; t1=$(now)
ours=$(elapsed "$t0" "$t1")

printf 'catalog (%s), cold:   %7.2f s\n' "${images[*]}" "$cold"
printf 'catalog, warm:          %7.2f s\n' "$warm"
printf 'java21 cold peak memory: %6.1f MiB (target < 100 MiB)\n' "$(echo "$java_mem / 1024" | bc -l)"
printf 'java21 cold: distroless %6.2f s, mmdebstrap+umoci %6.2f s, ratio %5.2fx\n' "$ours" "$peer" "$(echo "$peer / $ours" | bc -l)"
