# Shared by the bench/ scripts (sourced): a release build of distroless, a scratch directory,
# the host's mirror for the peer, timing helpers, and the peer path itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q -p distroless
bin="$PWD/target/release/distroless"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The peer uses the same mirror as we do: the first URI of the host's apt sources.
mirror="$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
[ -n "$mirror" ] || mirror="$(awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /:\/\//) {print $i; exit}}' /etc/apt/sources.list)"

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }
peak() { /usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -1; }

# The packages of an image's plan, comma-separated (IMAGE, CACHE_DIR).
plan_packages() {
    "$bin" build "$1" --dry-run --json --cache-dir "$2" | python3 -c \
      'import json,sys; p=json.load(sys.stdin)[0]; print(",".join(x["name"] for t in p["tiers"] for x in t["packages"]))'
}

# The peer: mmdebstrap --variant=extract of PACKAGES from SUITE, then umoci into an OCI layout.
peer_image() {
    local pkgs="$1" suite="$2" dir="$work/peer"
    rm -rf "$dir" && mkdir -p "$dir"
    mmdebstrap --quiet --variant=extract --include="$pkgs" "$suite" "$dir/rootfs.tar" "$mirror" 2>/dev/null
    umoci init --layout "$dir/oci"
    umoci new --image "$dir/oci:peer"
    umoci unpack --rootless --image "$dir/oci:peer" "$dir/bundle" >/dev/null
    tar -xf "$dir/rootfs.tar" -C "$dir/bundle/rootfs"
    umoci repack --image "$dir/oci:peer" "$dir/bundle"
}
