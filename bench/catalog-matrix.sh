#!/usr/bin/env bash
# Benchmark: the whole catalog that builds from Debian alone (every image × Debian 12 and 13 ×
# four tags, amd64 + arm64; the Node.js and Temurin images need sources given on the command
# line and are left out, as `--all` says) in one command, cold (empty cache) and warm, against
# the same images built one command each (warm), and mmdebstrap + umoci for one image (cc,
# cold). Prints times, ratios and peak memory. Needs mmdebstrap, umoci, bc.
source "$(dirname "$0")/lib.sh"

printf 'images = ["all"]\narches = ["amd64", "arm64"]\n' >"$work/all.toml"
run_all() { "$bin" build --matrix "$work/all.toml" -q --sbom none --cache-dir "$work/cache" "$@"; }
count=$("$bin" build --matrix "$work/all.toml" --dry-run --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["images"]))')

mem_cold=$(peak "$bin" build --matrix "$work/all.toml" -q --sbom none --cache-dir "$work/cache" -o "$work/m0")
t0=$(now); rm -rf "$work/cache-c"; "$bin" build --matrix "$work/all.toml" -q --sbom none --cache-dir "$work/cache-c" -o "$work/m1"; t1=$(now); cold=$(elapsed "$t0" "$t1")
t0=$(now); run_all -o "$work/m2"; t1=$(now); warm=$(elapsed "$t0" "$t1")
mem_warm=$(peak "$bin" build --matrix "$work/all.toml" -q --sbom none --cache-dir "$work/cache" -o "$work/m3")
# amd64 alone, SBOMs on (the issue's target: 1 s).
t0=$(now); "$bin" build --matrix "$work/all.toml" --arch amd64 -q --cache-dir "$work/cache" -o "$work/m4"; t1=$(now); warm_amd64=$(elapsed "$t0" "$t1")

# Today's way: one command per image (warm cache).
"$bin" build --matrix "$work/all.toml" --dry-run --json |
    python3 -c 'import json,sys; [print(i["image"]) for i in json.load(sys.stdin)["images"]]' >"$work/refs"
t0=$(now)
n=0
while read -r ref; do
    n=$((n + 1))
    "$bin" build "$ref" -q --sbom none --arch amd64 --arch arm64 --cache-dir "$work/cache" -o "$work/single/$n"
done <"$work/refs"
t1=$(now); singles=$(elapsed "$t0" "$t1")

pkgs=$(plan_packages cc-debian13 "$work/cache")
t0=$(now); peer_image "$pkgs" trixie; t1=$(now); peer=$(elapsed "$t0" "$t1")

printf 'the catalog from Debian: %d images (both releases, four tags), amd64 + arm64\n' "$count"
printf '  build --matrix cold   %7.2f s  (peak %d KiB)\n' "$cold" "$mem_cold"
printf '  build --matrix warm   %7.2f s  (peak %d KiB)\n' "$warm" "$mem_warm"
printf '  warm, amd64 only, SBOMs on %7.2f s  (target <= 1 s)\n' "$warm_amd64"
printf '  %d single commands    %7.2f s  (warm)   matrix/singles %.2f\n' "$count" "$singles" "$(echo "$warm / $singles" | bc -l)"
printf '  peer, one image (cc)  %7.2f s  (mmdebstrap + umoci, cold)\n' "$peer"
