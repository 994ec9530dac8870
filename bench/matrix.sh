#!/usr/bin/env bash
# Benchmark: a family in one command. static, base, cc and python3 of Debian 12 and 13, four
# tags each, amd64 + arm64 (32 images): `build --matrix` cold (empty cache) and warm, against
# the same 32 images built one command each (today's way, warm), and mmdebstrap + umoci for
# one image (cc, Debian 13, amd64, cold: the peer downloads every run). Then the matrix pushed
# to a loopback docker-registry through the test kit's proxy (requests, upload bytes), and
# again with nothing changed. Then a "fresh runner" (empty cache, SBOMs on) with the registry
# as the shared cache (--cache-repo, seeded by a run on the warm machine): republishing the
# unchanged family, and publishing it under a new prefix; bytes of .debs and indexes it
# downloaded (every download lands in its cache), requests and bytes it uploaded, layers
# mounted. Prints times, ratios and peak memory. Needs docker-registry, mmdebstrap, umoci, bc.
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
proxy_start() { # sets $addr and $proxy_pid
    rm -f "$work/p.out" "$work/p.stop"
    "$proxy_bin" "$reg" 0 1 "$work/p.stop" >"$work/p.out" &
    proxy_pid=$!
    until [ -s "$work/p.out" ]; do sleep 0.05; done
    addr=$(head -1 "$work/p.out")
}
proxy_stop() { # in the shell that started it (wait needs its own child)
    touch "$work/p.stop"; wait "$proxy_pid" 2>/dev/null || true; rm -f "$work/p.stop"
}
counted() { sed -n 2p "$work/p.out" | awk '{print $2, $6}'; } # → "requests upload_bytes"
push_once() { # → "seconds requests upload_bytes"
    proxy_start
    local a b; a=$(now)
    run_matrix --push "$addr/family" >/dev/null
    b=$(now)
    proxy_stop
    echo "$(elapsed "$a" "$b") $(counted)"
}
read -r push1 req1 bytes1 <<<"$(push_once)"
read -r push2 req2 bytes2 <<<"$(push_once)"

# Bytes of the blobs in a cache directory whose first bytes say .deb or xz index.
downloaded() { # CACHE → "deb_bytes index_bytes"
    python3 - "$1" <<'PY'
import gzip, lzma, os, sys
deb = idx = 0
root = os.path.join(sys.argv[1], "sha256")
for n in os.listdir(root) if os.path.isdir(root) else []:
    p = os.path.join(root, n)
    head = open(p, "rb").read(8)
    opener = {b"\x1f\x8b": gzip.open, b"\xfd7": lzma.open}.get(head[:2])
    if head.startswith(b"!<arch>\n"):
        deb += os.path.getsize(p)
    elif opener:
        try:
            text = opener(p).read(9)
        except Exception:
            text = b""
        if text == b"Package: ":
            idx += os.path.getsize(p)
print(deb, idx)
PY
}
# The warm machine seeds the shared cache (its tags are current: it pushes nothing else).
t0=$(now)
"$bin" build --matrix "$work/family.toml" -q --cache-dir "$work/cache" --cache-repo "$reg/ci/cache" --push "$reg/family" >/dev/null 2>&1
t1=$(now); seed=$(elapsed "$t0" "$t1")
fresh_runner() { # PREFIX NAME → "seconds requests upload_bytes deb_bytes index_bytes mounted sent"
    proxy_start
    local a b; a=$(now)
    "$bin" build --matrix "$work/family.toml" --json --cache-dir "$work/$2" \
        --cache-repo "$addr/ci/cache" --push "$addr/$1" >"$work/$2.json" 2>/dev/null
    b=$(now)
    proxy_stop
    local m; m=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); p=d["push"]; f=d["cache_repo"]["failure"]; assert f is None, f; print(p["blobs_mounted"], p["blobs_sent"])' "$work/$2.json")
    echo "$(elapsed "$a" "$b") $(counted) $(downloaded "$work/$2") $m"
}
read -r fr1 frq1 frb1 frd1 fri1 frm1 frs1 <<<"$(fresh_runner family fresh1)"
read -r fr2 frq2 frb2 frd2 fri2 frm2 frs2 <<<"$(fresh_runner elsewhere fresh2)"

printf 'matrix: 32 images (static, base, cc, python3 × Debian 12, 13 × 4 tags), amd64 + arm64\n'
printf '  build --matrix cold   %7.2f s  (peak %d KiB)\n' "$cold" "$mem_cold"
printf '  build --matrix warm   %7.2f s  (peak %d KiB)\n' "$warm" "$mem_warm"
printf '  32 single commands    %7.2f s  (warm)   matrix/singles %.2f\n' "$singles" "$(echo "$warm / $singles" | bc -l)"
printf '  peer, one image (cc)  %7.2f s  (mmdebstrap + umoci; cold matrix / peer %.2f)\n' "$peer" "$(echo "$cold / $peer" | bc -l)"
printf '  push                  %7.2f s  %s requests  %s bytes uploaded\n' "$push1" "$req1" "$bytes1"
printf '  push again            %7.2f s  %s requests  %s bytes uploaded\n' "$push2" "$req2" "$bytes2"
printf '  seed the cache repo   %7.2f s  (the warm machine, --cache-repo, tags already current)\n' "$seed"
printf '  fresh runner, same tags   %7.2f s  %s requests  %s bytes uploaded  .deb %s bytes  indexes %s bytes  (%s blobs mounted, %s sent)\n' "$fr1" "$frq1" "$frb1" "$frd1" "$fri1" "$frm1" "$frs1"
printf '  fresh runner, new prefix  %7.2f s  %s requests  %s bytes uploaded  .deb %s bytes  indexes %s bytes  (%s blobs mounted, %s sent)\n' "$fr2" "$frq2" "$frb2" "$frd2" "$fri2" "$frm2" "$frs2"
