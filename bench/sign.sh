#!/usr/bin/env bash
# Benchmark: sign and attest one multi-arch image (python3-debian12, amd64 + arm64: its SPDX
# and CycloneDX SBOMs and its SLSA provenance) in a loopback docker-registry, with distroless
# and with cosign 3 (the peer) in the same run, then verify everything with both. Prints wall
# time and peak memory of each side and the ratios. cosign signs one digest per call and
# attests one predicate per call, so it is given the same work: the index and each platform
# manifest signed, each statement attested to the digest it describes. Needs: docker-registry,
# bc; cosign is fetched by scripts/fetch-tools.sh.
source "$(dirname "$0")/lib.sh"
shopt -s inherit_errexit  # a failed cosign or distroless call inside $(timed …) stops the script
bash scripts/fetch-tools.sh target/ci-tools
export PATH="$PWD/target/ci-tools/usr/bin:$PATH"
reg_pid=""
trap '[ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/reg"
printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:0\n' "$work/reg" >"$work/reg/c.yml"
docker-registry serve "$work/reg/c.yml" >"$work/reg/log" 2>&1 &
reg_pid=$!
until grep -q "listening on" "$work/reg/log"; do sleep 0.1; done
addr=$(grep -o "listening on [0-9.:]*" "$work/reg/log" | head -1 | awk '{print $3}')

export DISTROLESS_PASSWORD=bench COSIGN_PASSWORD=bench
(cd "$work" && cosign generate-key-pair >/dev/null 2>&1)
out="$work/py"
"$bin" build -q python3-debian12 --arch amd64 --arch arm64 -o "$out"
for side in ours peer; do "$bin" push "$out" "$addr/b/$side:1" >/dev/null; done
index=$(crane digest --insecure "$addr/b/peer:1")
mapfile -t platforms < <(crane manifest --insecure "$addr/b/peer:1" | python3 -c 'import json,sys; [print(m["digest"], m["platform"]["architecture"]) for m in json.load(sys.stdin)["manifests"]]')
python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))["predicate"], open(sys.argv[2],"w"))' "$out.provenance.json" "$work/slsa.json"

cosign_side() {
    local o=(--tlog-upload=false --use-signing-config=false --allow-http-registry -y --key "$work/cosign.key")
    cosign sign "${o[@]}" "$addr/b/peer@$index" >/dev/null 2>&1
    cosign attest "${o[@]}" --type slsaprovenance1 --predicate "$work/slsa.json" "$addr/b/peer@$index" >/dev/null 2>&1
    for p in "${platforms[@]}"; do
        set -- $p
        cosign sign "${o[@]}" "$addr/b/peer@$1" >/dev/null 2>&1
        cosign attest "${o[@]}" --type spdxjson --predicate "$out.$2.spdx.json" "$addr/b/peer@$1" >/dev/null 2>&1
        cosign attest "${o[@]}" --type cyclonedx --predicate "$out.$2.cdx.json" "$addr/b/peer@$1" >/dev/null 2>&1
    done
}
ours_side() {
    "$bin" sign "$addr/b/ours:1" --key "$work/cosign.key" >/dev/null
    "$bin" attest "$addr/b/ours:1" --from "$out" --key "$work/cosign.key" >/dev/null
}
cosign_verify() {
    local o=(--insecure-ignore-tlog --allow-http-registry --key "$work/cosign.pub")
    cosign verify "${o[@]}" "$addr/b/peer@$index" >/dev/null 2>&1
    cosign verify-attestation "${o[@]}" --type slsaprovenance1 "$addr/b/peer@$index" >/dev/null 2>&1
    for p in "${platforms[@]}"; do
        set -- $p
        cosign verify "${o[@]}" "$addr/b/peer@$1" >/dev/null 2>&1
        for t in spdxjson cyclonedx; do cosign verify-attestation "${o[@]}" --type $t "$addr/b/peer@$1" >/dev/null 2>&1; done
    done
}
ours_verify() {
    "$bin" verify "$addr/b/ours:1" --key "$work/cosign.pub" --attestation slsa --attestation spdx --attestation cyclonedx >/dev/null
}
timed() { local t0; t0=$(now); "$@"; elapsed "$t0" "$(now)"; }

t_ours=$(timed ours_side); t_peer=$(timed cosign_side)
v_ours=$(timed ours_verify); v_peer=$(timed cosign_verify)
m_ours=$(peak "$bin" attest "$addr/b/ours:1" --from "$out" --key "$work/cosign.key")
m_peer=$(peak cosign attest --tlog-upload=false --use-signing-config=false --allow-http-registry -y --key "$work/cosign.key" --type spdxjson --predicate "$out.amd64.spdx.json" "$addr/b/peer@$index")
printf 'sign + attest (3 digests, 5 statements): distroless %.2f s, cosign %.2f s, ratio %.2f\n' "$t_ours" "$t_peer" "$(echo "$t_ours / $t_peer" | bc -l)"
printf 'verify everything:                        distroless %.2f s, cosign %.2f s, ratio %.2f\n' "$v_ours" "$v_peer" "$(echo "$v_ours / $v_peer" | bc -l)"
printf 'peak memory of one attest call:           distroless %s KiB, cosign %s KiB (one SPDX statement)\n' "$m_ours" "$m_peer"
