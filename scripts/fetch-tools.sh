#!/usr/bin/env bash
# Fetches reference tools that Debian 12 does not ship but newer suites do (crane, from
# go-containerregistry; cosign; oras) as .debs through the host's own apt sources, into DIR (default
# target/ci-tools), without touching the system's apt state. They depend only on libc6.
# Usage: scripts/fetch-tools.sh [DIR]; then put DIR/usr/bin on PATH.
set -euo pipefail
dir="$(realpath -m "${1:-target/ci-tools}")"
[ -x "$dir/usr/bin/crane" ] && [ -x "$dir/usr/bin/cosign" ] && [ -x "$dir/usr/bin/oras" ] && exit 0
src="$(mktemp -d)"
trap 'rm -rf "$src"' EXIT
mkdir -p "$src/lists/partial" "$src/archives/partial" "$dir"
# The mirror is the host's own (never written here).
uri="$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
[ -n "$uri" ] || uri="$(awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /:\/\//) {print $i; exit}}' /etc/apt/sources.list)"
printf 'Types: deb\nURIs: %s\nSuites: forky\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" >"$src/forky.sources"
A=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$src" -o "Dir::State::Lists=$src/lists"
   -o "Dir::Cache=$src" -o "Dir::Cache::Archives=$src/archives" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${A[@]}" update -qq >/dev/null
(cd "$src" && apt-get "${A[@]}" download -qq crane cosign oras >/dev/null)
for d in "$src"/*.deb; do dpkg -x "$d" "$dir"; done
"$dir/usr/bin/crane" version >/dev/null
