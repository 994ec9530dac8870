#!/usr/bin/env bash
# Benchmark: a family in one command. static, base, cc and python3 of Debian 12 and 13, four
# tags each, amd64 + arm64 (32 images): `build --matrix` cold (empty cache) and warm, against
# the same 32 images built one command each (today's way, warm), and mmdebstrap + umoci for
# one image (cc, Debian 13, amd64, cold: the peer downloads every run). Then the matrix pushed
# to a loopback docker-registry through the test kit's proxy (requests, upload bytes), and
# again with nothing changed. Prints times, ratios and peak memory. Needs docker-registry,
# mmdebstrap, umoci, bc.
source "$(dirname "$0")/lib.sh"
cargo build --release -q -p testkit --example faulty-proxy
proxy_bin="$PWD/target/release/examples/faulty-proxy"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

cat >"$work/family.toml" <<'TOML'
images = ["static", "base", "cc", "python3"]
releases = [12, 13]
arches = ["amd64", "arm64"]
TOML
run_matrix() { "$bin" build --matrix "$work/family.toml" -q --sbom none --cache-dir "$work/cache" "$@"; }

t0=$(now); run_matrix -o "$work/m1"; t1=$(now); cold=$(elapsed "$t0" "$t1")
t0=$(now); run_matrix -o "$work/m2"; t1=$(now); warm=$(elapsed "$t0" "$t1")
mem_warm=$(peak "$bin" build --matrix "$work/family.toml" -q --sbom none --cache-dir "$work/cache" -o "$work/m3")
mem_cold=$(rm -rf "$work/cache-c"; peak "$bin" build --matrix "$work/family.toml" -q --sbom none --cache-dir "$work/cache-c" -o "$work/m4")

# Today's way: one command per image (warm cache).
t0=$(now)
for name in static base cc python3; do
    for rel in 12 13; do
        for tag in latest nonroot debug debug-nonroot; do
            "$bin" build "$name-debian$rel:$tag" -q --sbom none --arch amd64 --arch arm64 \
                --cache-dir "$work/cache" -o "$work/single/$name-$rel-$tag"
        done
    done
done
t1=$(now); singles=$(elapsed "$t0" "$t1")

pkgs=$(plan_packages cc-debian13 "$work/cache")
t0=$(now); peer_image "$pkgs" trixie; t1=$(now); peer=$(elapsed "$t0" "$t1")

# The push, counted at a proxy in front of the registry (no faults).
mkdir -p "$work/reg"
printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:0\n' "$work/reg" >"$work/reg/c.yml"
docker-registry serve "$work/reg/c.yml" >"$work/reg/log" 2>&1 &
pids+=("$!")
until grep -q "listening on" "$work/reg/log"; do sleep 0.1; done
reg=$(grep -o "listening on [0-9.:]*" "$work/reg/log" | head -1 | awk '{print $3}')
push_once() { # → "seconds requests upload_bytes"
    rm -f "$work/p.out" "$work/p.stop"
    "$proxy_bin" "$reg" 0 1 "$work/p.stop" >"$work/p.out" &
    local p=$!
    until [ -s "$work/p.out" ]; do sleep 0.05; done
    local addr; addr=$(head -1 "$work/p.out")
    local a b; a=$(now)
    run_matrix --push "$addr/family" >/dev/null
    b=$(now)
    touch "$work/p.stop"; wait "$p" 2>/dev/null || true; rm -f "$work/p.stop"
    echo "$(elapsed "$a" "$b") $(sed -n 2p "$work/p.out" | awk '{print $2, $6}')"
}
read -r push1 req1 bytes1 <<<"$(push_once)"
read -r push2 req2 bytes2 <<<"$(push_once)"

printf 'matrix: 32 images (static, base, cc, python3 × Debian 12, 13 × 4 tags), amd64 + arm64\n'
printf '  build --matrix cold   %7.2f s  (peak %d KiB)\n' "$cold" "$mem_cold"
printf '  build --matrix warm   %7.2f s  (peak %d KiB)\n' "$warm" "$mem_warm"
printf '  32 single commands    %7.2f s  (warm)   matrix/singles %.2f\n' "$singles" "$(echo "$warm / $singles" | bc -l)"
printf '  peer, one image (cc)  %7.2f s  (mmdebstrap + umoci; cold matrix / peer %.2f)\n' "$peer" "$(echo "$cold / $peer" | bc -l)"
printf '  push                  %7.2f s  %s requests  %s bytes uploaded\n' "$push1" "$req1" "$bytes1"
printf '  push again            %7.2f s  %s requests  %s bytes uploaded\n' "$push2" "$req2" "$bytes2"
