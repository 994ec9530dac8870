#!/usr/bin/env bash
# Builds every catalog image (Debian 12 and 13, all four tags, amd64 + arm64 in one index) and
# one recipe of each kind (the examples, `auto`, a foreign base, `distroless debug`) with two
# binaries of distroless, and compares the index digests. Used to prove that a change of the
# code's shape changed no byte of any image.
#
#   scripts/compare-digests.sh OLD_BINARY [NEW_BINARY]    (NEW defaults to a release build)
#
# Both binaries share one cache and run back to back, so the Debian archive is the same for
# both. Needs gcc, g++, javac/jar (for the examples' programs) and network to the host's mirror.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
old="$(realpath "$1")"
if [ -n "${2:-}" ]; then
    new="$(realpath "$2")"
else
    cargo build --release -q -p distroless
    new="$PWD/target/release/distroless"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export DISTROLESS_CACHE_DIR="${DISTROLESS_CACHE_DIR:-$work/cache}"

# The programs the example recipes copy, compiled once so both binaries see the same bytes.
apps="$work/apps"
mkdir -p "$apps"
cp -r examples/. "$apps/"
printf '#include <stdio.h>\nint main(void){puts("hello");return 0;}\n' >"$work/hello.c"
gcc -static -O2 -o "$apps/static-go/hello" "$work/hello.c"
printf '#include <iostream>\nint main(){ std::cout << "ok" << std::endl; }\n' >"$work/server.cc"
g++ -O2 -o "$apps/cpp/server" "$work/server.cc"
mkdir -p "$work/java/src"
printf 'public class Main { public static void main(String[] a) { System.out.println("ok"); } }\n' >"$work/java/src/Main.java"
javac -d "$work/java/classes" "$work/java/src/Main.java"
printf 'Main-Class: Main\n' >"$work/java/manifest"
jar cfm "$apps/java/app.jar" "$work/java/manifest" -C "$work/java/classes" .
mkdir -p "$apps/auto"
cp "$apps/cpp/server" "$apps/auto/server"
cat >"$apps/auto/distroless.toml" <<'TOML'
from = "auto"
name = "autoapp"
entrypoint = ["/server"]
[[copy]]
src = "server"
dest = "/server"
TOML

# Prints `LABEL DIGEST` for every image built by BINARY into DIR.
digests() {
    local bin="$1" out="$2" images tag release name
    mkdir -p "$out"
    for release in 12 13; do
        images="static base-nossl base cc python3 nodejs"
        if [ "$release" = 12 ]; then images="$images java17"; else images="$images java21"; fi
        for name in $images; do
            for tag in latest nonroot debug debug-nonroot; do
                local ref="$name-debian$release:$tag"
                "$bin" build "$ref" -q --json --arch amd64 --arch arm64 -o "$out/$name-$release-$tag" \
                    | python3 -c "import json,sys; print('$ref', json.load(sys.stdin)['index_digest'])"
            done
        done
    done
    for ex in static-go cpp python java auto; do
        (cd "$apps/$ex" && "$bin" build -f distroless.toml -q --json --arch amd64 -o "$out/app-$ex") \
            | python3 -c "import json,sys; print('recipe:$ex', json.load(sys.stdin)['index_digest'])"
    done
    # A recipe on a foreign base (the layout built above), and debug variants of foreign images.
    # The recipe sits beside the base layout, inside its build context.
    cp "$apps/cpp/server" "$out/server"
    printf 'from = "./cc-13-latest"\nname = "onbase"\nentrypoint = ["/server"]\n[[copy]]\nsrc = "server"\ndest = "/server"\n' \
        >"$out/foreign.toml"
    (cd "$out" && "$bin" build -f foreign.toml -q --json --arch amd64 -o "$out/app-foreign") \
        | python3 -c "import json,sys; print('recipe:foreign', json.load(sys.stdin)['index_digest'])"
    "$bin" build -f "$apps/cpp/distroless.toml" -q --format docker --arch amd64 -o "$out/cpp-docker.tar"
    echo "docker-archive $(sha256sum <"$out/cpp-docker.tar" | cut -d' ' -f1)"
    "$bin" debug "$out/app-cpp" -q -o "$out/debug-layout"
    echo "debug:layout $(python3 -c "import json,hashlib; print(hashlib.sha256(open('$out/debug-layout/index.json','rb').read()).hexdigest())")"
    "$bin" debug "$out/cpp-docker.tar" -q -o "$out/debug-docker"
    echo "debug:docker $(python3 -c "import json,hashlib; print(hashlib.sha256(open('$out/debug-docker/index.json','rb').read()).hexdigest())")"
}

echo "old: $old" >&2
digests "$old" "$work/old" >"$work/old.txt"
echo "new: $new" >&2
digests "$new" "$work/new" >"$work/new.txt"
if diff -u "$work/old.txt" "$work/new.txt"; then
    echo "identical: $(wc -l <"$work/new.txt") images" >&2
else
    echo "DIGESTS DIFFER" >&2
    exit 1
fi
