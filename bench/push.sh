#!/usr/bin/env bash
# Benchmark: push the catalog (Debian 12 and 13, amd64 + arm64) to a loopback docker-registry
# with distroless, crane and skopeo in the same run: time, upload bytes and requests (counted by
# the test kit's proxy in front of each registry), then a second push of the unchanged images,
# then 5 pushes of one image each through a proxy failing 20% of requests (500, 429, resets,
# cut bodies). Needs: docker-registry, skopeo, bc; crane is fetched by scripts/fetch-tools.sh.
# Uses $DISTROLESS_CACHE_DIR (a warm cache makes the builds quick).
source "$(dirname "$0")/lib.sh"
cargo build --release -q -p testkit --example faulty-proxy
proxy_bin="$PWD/target/release/examples/faulty-proxy"
bash scripts/fetch-tools.sh target/ci-tools
export PATH="$PWD/target/ci-tools/usr/bin:$PATH"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

start_registry() { # DIR → address on stdout
    mkdir -p "$1"
    printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:0\n' "$1" >"$1/c.yml"
    docker-registry serve "$1/c.yml" >"$1/log" 2>&1 &
    echo $! >"$1/pid"
    until grep -q "listening on" "$1/log"; do sleep 0.1; done
    grep -o "listening on [0-9.:]*" "$1/log" | head -1 | awk '{print $3}'
}
proxy_start() { # NAME UPSTREAM PERCENT SEED → sets proxy_addr; stop with proxy_stop NAME
    "$proxy_bin" "$2" "$3" "$4" "$work/$1.stop" >"$work/$1.out" &
    echo $! >"$work/$1.pid"
    pids+=("$!")
    until [ -s "$work/$1.out" ]; do sleep 0.05; done
    proxy_addr=$(head -1 "$work/$1.out")
}
proxy_stop() { # NAME → sets proxy_stats to "requests N faults N upload_bytes N"
    touch "$work/$1.stop"
    wait "$(cat "$work/$1.pid")" 2>/dev/null || true
    proxy_stats=$(sed -n 2p "$work/$1.out")
}

images=()
for rel in 12 13; do
    for name in static base-nossl base cc python3 nodejs; do images+=("$name-debian$rel"); done
done
images+=(java17-debian12 java21-debian13)
for img in "${images[@]}"; do
    "$bin" build -q "$img" --arch amd64 --arch arm64 --sbom none -o "$work/layouts/$img"
done
blob_bytes=$(du -sb "$work"/layouts/*/blobs | awk '{s+=$1} END {print s}')

push_all() { # TOOL ADDR
    for img in "${images[@]}"; do
        local l="$work/layouts/$img"
        case $1 in
            distroless) "$bin" push "$l" "$2/d/$img:latest" >/dev/null ;;
            crane) crane push --insecure --index "$l" "$2/c/$img:latest" >/dev/null 2>&1 ;;
            skopeo) skopeo copy -q --all --dest-tls-verify=false "oci:$l:latest" "docker://$2/s/$img:latest" ;;
        esac
    done
}

printf 'catalog: %d images, %d arch each, %.1f MiB of blobs on disk\n\n' "${#images[@]}" 2 "$(echo "$blob_bytes / 1048576" | bc -l)"
printf '%-11s %-6s %9s %12s %9s\n' tool push seconds "MiB sent" requests
declare -A first_time
for tool in distroless crane skopeo; do
    reg=$(start_registry "$work/reg-$tool"); pids+=("$(cat "$work/reg-$tool/pid")")
    for round in first second; do
        proxy_start "p-$tool-$round" "$reg" 0 1; addr=$proxy_addr
        t0=$(now); push_all "$tool" "$addr"; t1=$(now)
        proxy_stop "p-$tool-$round"; stats=$proxy_stats
        secs=$(elapsed "$t0" "$t1")
        [ "$round" = first ] && first_time[$tool]=$secs
        printf '%-11s %-6s %9.2f %12.2f %9s\n' "$tool" "$round" "$secs" \
            "$(echo "$(echo "$stats" | awk '{print $6}') / 1048576" | bc -l)" "$(echo "$stats" | awk '{print $2}')"
    done
done
printf '\nratio crane/distroless (first push time):  %.2fx\n' "$(echo "${first_time[crane]} / ${first_time[distroless]}" | bc -l)"
printf 'ratio skopeo/distroless (first push time): %.2fx\n\n' "$(echo "${first_time[skopeo]} / ${first_time[distroless]}" | bc -l)"

# Through a proxy failing 20% of requests: pushes of cc-debian13 (both arches) that complete.
l="$work/layouts/cc-debian13"
for tool in distroless crane skopeo; do
    reg=$(start_registry "$work/freg-$tool"); pids+=("$(cat "$work/freg-$tool/pid")")
    ok=0
    for seed in 1 2 3 4 5; do
        proxy_start "f-$tool-$seed" "$reg" 20 "$seed"; addr=$proxy_addr
        case $tool in
            distroless) "$bin" push "$l" "$addr/r$seed/cc:latest" >/dev/null 2>&1 && ok=$((ok + 1)) ;;
            crane) crane push --insecure --index "$l" "$addr/r$seed/cc:latest" >/dev/null 2>&1 && ok=$((ok + 1)) ;;
            skopeo) skopeo copy -q --all --retry-times 5 --dest-tls-verify=false "oci:$l:latest" "docker://$addr/r$seed/cc:latest" >/dev/null 2>&1 && ok=$((ok + 1)) ;;
        esac
        proxy_stop "f-$tool-$seed"
    done
    printf '20%% faults: %-10s completed %d of 5 pushes\n' "$tool" "$ok"
done
