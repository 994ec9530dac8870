#!/usr/bin/env bash
# Benchmark: a warm rebuild of a `from = "auto"` application image against a warm rebuild of
# the catalog image it stands on (static-debian12), in the same run and cache. The auto
# analysis is cached by the programs' bytes and the index hashes, so the two should be close.
# Needs: gcc and zlib1g-dev (the program links libz).
source "$(dirname "$0")/lib.sh"

app="$work/app"; mkdir -p "$app"
printf '#include <stdio.h>\n#include <zlib.h>\nint main(void){puts(zlibVersion());return 0;}\n' >"$app/a.c"
gcc -O1 -o "$app/app" "$app/a.c" -lz
printf 'from = "auto"\ndebian = 12\nentrypoint = ["/app"]\n[[copy]]\nsrc = "app"\ndest = "/app"\n' >"$app/distroless.toml"

best() { # best of 5 runs of a command, in seconds
    local b=999 t0 t1 w
    for _ in 1 2 3 4 5; do
        t0=$(now); "$@" >/dev/null; t1=$(now)
        w=$(elapsed "$t0" "$t1"); if (( $(echo "$w < $b" | bc) )); then b=$w; fi
    done
    echo "$b"
}
"$bin" build -q --cache-dir "$work/cache" -f "$app/distroless.toml" -o "$work/auto" # cold
"$bin" build -q --cache-dir "$work/cache" static-debian12 -o "$work/static"         # cold
auto=$(best "$bin" build -q --cache-dir "$work/cache" -f "$app/distroless.toml" -o "$work/auto")
static=$(best "$bin" build -q --cache-dir "$work/cache" static-debian12 -o "$work/static")
mem=$(peak "$bin" build -q --cache-dir "$work/cache" -f "$app/distroless.toml" -o "$work/auto")

printf 'auto app warm:               %6.3f s  (peak %d KiB)\n' "$auto" "$mem"
printf 'static-debian12 warm (peer): %6.3f s\n' "$static"
printf 'ratio auto/static:           %6.2fx\n' "$(echo "$auto / $static" | bc -l)"
