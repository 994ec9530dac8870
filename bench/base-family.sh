#!/usr/bin/env bash
# Benchmark: build `cc` (Debian 13, host arch) cold and warm with distroless, and the same
# package set with the peer path (mmdebstrap --variant=extract + umoci), in the same run.
# Prints times, the ratios, peak memory and the compressed size of `static`, and the download
# floor: every file the cold build fetches (InRelease and Packages files, .debs), all at once
# (bench/floor.py, best of three), against which the cold build is measured.
# Needs: mmdebstrap, umoci, /usr/bin/time (apt-get install -y mmdebstrap umoci time).
source "$(dirname "$0")/lib.sh"
suite=trixie

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
# The CPU a cold build spends (user + system): on 2 cores, half of it is a floor of its own.
cpu_cold=$(rm -rf "$work/cache3"; /usr/bin/time -f "%U %S" "$bin" build cc -q --cache-dir "$work/cache3" -o "$work/cc-cpu" 2>&1 >/dev/null | tail -1 | awk '{print $1 + $2}')

# The download floor (the same files, all at once; best of three).
floor=999
for _ in 1 2 3; do
    f=$("$bin" build cc --dry-run --json --cache-dir "$work/cache" | python3 bench/floor.py | awk '{print $1}')
    if (( $(echo "$f < $floor" | bc) )); then floor=$f; fi
done

# The same package set for the peer.
pkgs=$(plan_packages cc "$work/cache")
t0=$(now); peer_image "$pkgs" "$suite"; t1=$(now)
peer_time=$(elapsed "$t0" "$t1")

static_size=$("$bin" build static -q --cache-dir "$work/cache" -o "$work/static" --json | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["manifests"][0]["compressed_size"])')

printf 'packages: %s\n' "$pkgs"
printf 'distroless cc cold:          %6.3f s  (peak %d KiB)\n' "$cold" "$mem_cold_kb"
printf 'distroless cc warm:          %6.3f s  (peak %d KiB)\n' "$warm" "$mem_warm_kb"
printf 'download floor (cc cold):    %6.3f s  cold/floor %.2f (target <= 2)\n' "$floor" "$(echo "$cold / $floor" | bc -l)"
printf 'CPU of a cold build:         %6.3f s  (over %d cores: %.3f s at best)\n' "$cpu_cold" "$(nproc)" "$(echo "$cpu_cold / $(nproc)" | bc -l)"
printf 'mmdebstrap+umoci cc:         %6.3f s\n' "$peer_time"
printf 'ratio peer/warm:             %6.1fx  (target >= 10x)\n' "$(echo "$peer_time / $warm" | bc -l)"
printf 'ratio peer/cold:             %6.2fx  (target >= 1x)\n' "$(echo "$peer_time / $cold" | bc -l)"
printf 'static compressed:           %6.3f MiB (target < 2 MiB)\n' "$(echo "$static_size / 1048576" | bc -l)"
