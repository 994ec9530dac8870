//! Signatures and attestations, judged by cosign itself: what we make, cosign 3 accepts in
//! both its storage formats; what cosign makes, we accept; a changed payload, a changed
//! signature, a swapped subject or a foreign key, we refuse in one line that names it.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use serde_json::Value;
use testkit::fixtures::catalog_repo_for;
use testkit::registry::Registry;

const PASSWORD: &str = "pa55";

/// A key pair cosign made, in `dir`.
fn cosign_keys(dir: &Path) -> (PathBuf, PathBuf) {
    support::run(
        Command::new("cosign")
            .current_dir(dir)
            .arg("generate-key-pair")
            .env("COSIGN_PASSWORD", PASSWORD),
    );
    (dir.join("cosign.key"), dir.join("cosign.pub"))
}

fn cosign(args: &[&str]) -> Output {
    Command::new("cosign")
        .args(args)
        .env("COSIGN_PASSWORD", PASSWORD)
        .output()
        .unwrap()
}

/// `cosign verify` (or `verify-attestation`, with `command`'s flags) offline against a
/// loopback registry.
fn cosign_verifies(public: &Path, image: &str, command: &[&str]) -> Output {
    let mut args = command.to_vec();
    args.extend(["--insecure-ignore-tlog", "--allow-http-registry", "--key"]);
    args.push(public.to_str().unwrap());
    args.push(image);
    cosign(&args)
}

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ours(cache: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut c = support::distroless(cache);
    c.args(args).env("DISTROLESS_PASSWORD", PASSWORD);
    c
}

fn failure_line(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr)
        .trim()
        .to_string()
}

fn client() -> registry::Client {
    registry::Client::new(registry::Options::default()).unwrap()
}

/// The statements in an image's `.att` tag for `digest`, decoded.
fn attested(image: &registry::Reference, digest: &str) -> Vec<Value> {
    let c = client();
    let tag = format!("{}.att", digest.replace(':', "-"));
    let (bytes, _, _) = registry::pull::manifest(&c, image, &tag).unwrap();
    let manifest: Value = serde_json::from_slice(&bytes).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let d = l["digest"].as_str().unwrap().parse().unwrap();
            let env: Value =
                serde_json::from_slice(&registry::referrers::blob(&c, image, &d, 1 << 30).unwrap())
                    .unwrap();
            let payload = base64::engine::general_purpose::STANDARD
                .decode(env["payload"].as_str().unwrap())
                .unwrap();
            serde_json::from_slice(&payload).unwrap()
        })
        .collect()
}

/// An image built, pushed, signed and attested in a private registry, with a key cosign made.
struct Signed {
    tmp: tempfile::TempDir,
    cache: PathBuf,
    layout: PathBuf,
    key: PathBuf,
    public: PathBuf,
    image: String,
    reg: Registry,
}

impl Signed {
    fn key(&self) -> &str {
        self.key.to_str().unwrap()
    }

    fn public(&self) -> &str {
        self.public.to_str().unwrap()
    }

    fn ours(&self, args: &[&str]) -> assert_cmd::Command {
        ours(&self.cache, args)
    }
}

fn signed_image() -> Option<Signed> {
    let reg = Registry::start()?;
    if !support::have_tool("cosign") || !support::have_tool("oras") {
        return None;
    }
    let repo = catalog_repo_for(&["amd64", "arm64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let layout = tmp.path().join("static");
    support::build_layout(&cache, &repo, "static", &["amd64", "arm64"], &layout);
    let (key, public) = cosign_keys(tmp.path());
    let image = format!("{}/t/static:1", reg.addr);
    let s = Signed {
        tmp,
        cache,
        layout,
        key,
        public,
        image,
        reg,
    };
    let l = s.layout.to_str().unwrap();
    s.ours(&["push", l, &s.image]).assert().success();
    s.ours(&["sign", &s.image, "--key", s.key()])
        .assert()
        .success();
    let attest = ["attest", &s.image, "--from", l, "--key", s.key()];
    s.ours(&attest).assert().success();
    Some(s)
}

/// Asserts a command failed with one line containing `needle`.
fn refused_with(a: &assert_cmd::assert::Assert, needle: &str) {
    let line = failure_line(a);
    assert!(line.contains(needle) && !line.contains('\n'), "{line}");
}

#[test]
fn cosign_accepts_our_attestations_we_accept_cosigns_and_tampering_is_named() {
    let Some(s) = signed_image() else {
        return;
    };
    support::validate_sbom("intoto", &s.tmp.path().join("static.provenance.json"));
    // cosign 3 accepts every kind, from the referrers (bundles) and from the tags (cosign 2's).
    for bundles in ["--new-bundle-format=true", "--new-bundle-format=false"] {
        ok(
            &cosign_verifies(&s.public, &s.image, &["verify", bundles]),
            bundles,
        );
        for kind in ["slsaprovenance1", "spdxjson", "cyclonedx"] {
            let command = ["verify-attestation", bundles, "--type", kind];
            let what = format!("{kind} {bundles}");
            ok(&cosign_verifies(&s.public, &s.image, &command), &what);
        }
    }
    let r = registry::Reference::parse(&s.image).unwrap();
    let top = registry::pull::resolve(&client(), &r).unwrap().to_string();
    payloads_are_the_builds(&s, &r, &top);
    oras_lists_the_referrers(&s);
    ours_judges_the_same(&s);
    cosigns_signatures_verify_here(&s);
    tamper(&s.cache, &r, &top, s.public());
}

/// Every payload is a valid in-toto statement (SLSA provenance v1 included), and the SBOM
/// attested for each platform is the one written beside the output.
fn payloads_are_the_builds(s: &Signed, r: &registry::Reference, top: &str) {
    let statements = attested(r, top);
    let kinds = "provenance + an SPDX and a CycloneDX per platform";
    assert_eq!(statements.len(), 5, "{kinds}");
    for (i, st) in statements.iter().enumerate() {
        let file = s.tmp.path().join(format!("statement-{i}.json"));
        fs_err::write(&file, serde_json::to_vec(st).unwrap()).unwrap();
        support::validate_sbom("intoto", &file);
    }
    let index: Value =
        serde_json::from_slice(&registry::pull::manifest(&client(), r, "1").unwrap().0).unwrap();
    for m in index["manifests"].as_array().unwrap() {
        let arch = m["platform"]["architecture"].as_str().unwrap();
        let file = s.tmp.path().join(format!("static.{arch}.spdx.json"));
        let on_disk: Value = serde_json::from_slice(&fs_err::read(file).unwrap()).unwrap();
        let own = attested(r, m["digest"].as_str().unwrap());
        assert_eq!(
            own.len(),
            3,
            "{arch}: the provenance and its own two SBOMs, no other's"
        );
        let inside = own
            .into_iter()
            .find(|st| st["predicateType"] == "https://spdx.dev/Document")
            .unwrap();
        assert_eq!(inside["predicate"], on_disk, "{arch}");
    }
}

/// oras lists the referrers: a signature and five attestations on the index.
fn oras_lists_the_referrers(s: &Signed) {
    let args = ["discover", "--plain-http", "--format", "json", &s.image];
    let listed: Value =
        serde_json::from_str(&support::run(Command::new("oras").args(args))).unwrap();
    let bundles = listed["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json")
        .count();
    assert_eq!(bundles, 6, "{listed}");
}

/// Ours judges as cosign does, prints what it verified, and refuses another key.
fn ours_judges_the_same(s: &Signed) {
    let mut args = vec!["verify", &s.image, "--key", s.public()];
    for kind in ["slsa", "spdx", "cyclonedx"] {
        args.extend(["--attestation", kind]);
    }
    let verified = s.ours(&args).assert().success();
    let text = String::from_utf8_lossy(&verified.get_output().stdout).to_string();
    assert!(text.contains("slsa") && text.contains(".sig"), "{text}");
    let other = s.tmp.path().join("other");
    fs_err::create_dir_all(&other).unwrap();
    let (_, other_pub) = cosign_keys(&other);
    let args = ["verify", &s.image, "--key", other_pub.to_str().unwrap()];
    refused_with(&s.ours(&args).assert().failure(), "another key");
}

/// What cosign signs and attests (both formats), we verify; an unsigned image we refuse.
fn cosigns_signatures_verify_here(s: &Signed) {
    let theirs = format!("{}/t/theirs:1", s.reg.addr);
    let unsigned = format!("{}/t/unsigned:1", s.reg.addr);
    for target in [&theirs, &unsigned] {
        let push = ["push", s.layout.to_str().unwrap(), target];
        s.ours(&push).assert().success();
    }
    let predicate = s.tmp.path().join("predicate.json");
    let provenance = s.tmp.path().join("static.provenance.json");
    let statement: Value = serde_json::from_slice(&fs_err::read(provenance).unwrap()).unwrap();
    fs_err::write(
        &predicate,
        serde_json::to_vec(&statement["predicate"]).unwrap(),
    )
    .unwrap();
    let offline = [
        "--tlog-upload=false",
        "--use-signing-config=false",
        "--allow-http-registry",
        "-y",
        "--key",
        s.key(),
    ];
    for bundles in ["--new-bundle-format=true", "--new-bundle-format=false"] {
        let sign = [&["sign", bundles][..], &offline, &[&theirs]].concat();
        ok(&cosign(&sign), "cosign sign");
        let p = predicate.to_str().unwrap();
        let att = [
            "attest",
            bundles,
            "--type",
            "slsaprovenance1",
            "--predicate",
            p,
        ];
        ok(
            &cosign(&[&att[..], &offline, &[&theirs]].concat()),
            "cosign attest",
        );
    }
    let verify = [
        "verify",
        &theirs,
        "--key",
        s.public(),
        "--attestation",
        "slsa",
    ];
    s.ours(&verify).assert().success();
    let verify = ["verify", &unsigned, "--key", s.public()];
    refused_with(&s.ours(&verify).assert().failure(), "no signature");
    let verify = [
        "verify",
        &theirs,
        "--key",
        s.public(),
        "--attestation",
        "spdx",
    ];
    refused_with(&s.ours(&verify).assert().failure(), "no spdx attestation");
}

/// Changes one thing at a time in what `sign` stored for `top`, checks `verify` names it, and
/// puts it back.
fn tamper(cache: &Path, r: &registry::Reference, top: &str, public: &str) {
    let c = client();
    let image = r.to_string();
    let refused = |needle: &str| {
        let a = ours(cache, &["verify", &image, "--key", public])
            .assert()
            .failure();
        let line = failure_line(&a);
        assert!(line.contains(needle) && !line.contains('\n'), "{line}");
    };
    let tag = format!("{}.sig", top.replace(':', "-"));
    let (original, _, _) = registry::pull::manifest(&c, r, &tag).unwrap();
    let manifest: Value = serde_json::from_slice(&original).unwrap();
    let layer = &manifest["layers"][0];
    let payload = registry::referrers::blob(
        &c,
        r,
        &layer["digest"].as_str().unwrap().parse().unwrap(),
        1 << 20,
    )
    .unwrap();
    let put = |m: &Value, blobs: &[Vec<u8>]| {
        registry::push::push_artifact(
            &c,
            r,
            blobs,
            &serde_json::to_vec(m).unwrap(),
            "application/vnd.oci.image.manifest.v1+json",
            &tag,
        )
        .unwrap();
    };
    // A changed byte in the payload.
    let mut changed = payload.clone();
    let at = changed.iter().position(|b| *b == b'"').unwrap();
    changed.insert(at + 1, b' ');
    let mut m = manifest.clone();
    m["layers"][0]["digest"] = format!("sha256:{}", hex_sha256(&changed)).into();
    m["layers"][0]["size"] = changed.len().into();
    put(&m, &[changed]);
    refused(".sig, layer 1: the signature does not verify");
    // A changed signature.
    let sig = layer["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap();
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    let mut m = manifest.clone();
    m["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"] =
        base64::engine::general_purpose::STANDARD.encode(raw).into();
    put(&m, &[]);
    refused(".sig, layer 1: the signature does not verify");
    put(&manifest, &[]);
    ours(cache, &["verify", &image, "--key", public])
        .assert()
        .success();
    // A signature bundle of one platform's manifest, re-filed under the index as its subject.
    let platform = registry::Reference::parse(&image).unwrap();
    let index: Value =
        serde_json::from_slice(&registry::pull::manifest(&c, &platform, "1").unwrap().0).unwrap();
    let amd64: oci::digest::Digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let referrers = registry::referrers::list(&c, r, &amd64).unwrap();
    let sig_ref = referrers
        .iter()
        .find(|d| {
            d["annotations"]["dev.sigstore.bundle.predicateType"]
                == "https://sigstore.dev/cosign/sign/v1"
        })
        .unwrap();
    let (bytes, _, _) =
        registry::pull::manifest(&c, r, sig_ref["digest"].as_str().unwrap()).unwrap();
    let mut moved: Value = serde_json::from_slice(&bytes).unwrap();
    moved["subject"]["digest"] = top.into();
    registry::referrers::push(&c, r, &[], &serde_json::to_vec(&moved).unwrap()).unwrap();
    refused("the signed statement is about other digests");
}

fn hex_sha256(bytes: &[u8]) -> String {
    oci::digest::Digest::sha256_of(bytes).hex().to_string()
}

#[test]
fn build_signs_into_a_layout_push_carries_it_and_bad_requests_get_one_line() {
    let Some(reg) = Registry::start() else {
        return;
    };
    if !support::have_tool("cosign") {
        return;
    }
    let repo = catalog_repo_for(&["amd64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let (key, public) = cosign_keys(tmp.path());
    let (secret, pubkey) = (key.to_str().unwrap(), public.to_str().unwrap());
    let layout = tmp.path().join("signed");
    let dir = layout.to_str().unwrap();
    let url = repo.file_url();
    let build = |extra: &[&str]| {
        let base = ["build", "-q", "static", "--arch", "amd64"];
        let mut c = support::trusting(&cache, &url, &base);
        c.args(extra).env("DISTROLESS_PASSWORD", PASSWORD);
        c
    };
    build(&["-o", dir, "--sign", "--key", secret])
        .assert()
        .success();
    let verify = [
        "verify",
        dir,
        "--key",
        pubkey,
        "--attestation",
        "slsa",
        "--attestation",
        "spdx",
    ];
    ours(&cache, &verify).assert().success();
    // push carries the layout's referrers: cosign 3 finds the signature and attestations.
    let image = format!("{}/t/signed:1", reg.addr);
    let pushed = ours(&cache, &["push", dir, &image]).assert().success();
    assert!(String::from_utf8_lossy(&pushed.get_output().stdout).contains("carried along"));
    ok(
        &cosign_verifies(&public, &image, &["verify"]),
        "signature carried by push",
    );
    let command = ["verify-attestation", "--type", "slsaprovenance1"];
    ok(
        &cosign_verifies(&public, &image, &command),
        "attestation carried by push",
    );
    // One command: build, push, sign, attest.
    let direct = format!("{}/t/direct:1", reg.addr);
    build(&["--push", &direct, "--sign", "--key", secret])
        .assert()
        .success();
    let legacy = ["verify", "--new-bundle-format=false"];
    ok(
        &cosign_verifies(&public, &direct, &legacy),
        "build --push --sign: .sig",
    );
    let command = ["verify-attestation", "--type", "spdxjson"];
    ok(
        &cosign_verifies(&public, &direct, &command),
        "build --push --sign: SPDX",
    );

    // Refusals, each one line, nothing written.
    let archive = tmp.path().join("x.tar");
    let cmd = build(&["-o", archive.to_str().unwrap(), "--sign", "--key", secret]);
    refused_with(&{ cmd }.assert().failure(), "OCI layout or a registry");
    assert!(!archive.exists());
    let refused_dir = tmp.path().join("y");
    let mut cmd = build(&[
        "-o",
        refused_dir.to_str().unwrap(),
        "--sign",
        "--key",
        secret,
    ]);
    cmd.env("DISTROLESS_PASSWORD", "wrong");
    refused_with(&cmd.assert().failure(), "password does not open");
    assert!(
        !refused_dir.exists(),
        "nothing is built with a key that does not open"
    );
    attest_refuses(&cache, &repo, &layout, &image, secret);
}

/// Evidence of another image, or changed since the build; a private key where a public one
/// belongs.
fn attest_refuses(cache: &Path, repo: &testkit::Repo, layout: &Path, image: &str, secret: &str) {
    let tmp = layout.parent().unwrap();
    let dir = layout.to_str().unwrap();
    let other = tmp.join("other");
    support::build_layout(cache, repo, "static:nonroot", &["amd64"], &other);
    let attest = [
        "attest",
        image,
        "--from",
        other.to_str().unwrap(),
        "--key",
        secret,
    ];
    refused_with(
        &ours(cache, &attest).assert().failure(),
        "this provenance is about",
    );
    fs_err::write(tmp.join("signed.spdx.json"), b"{}").unwrap();
    let attest = ["attest", image, "--from", dir, "--key", secret];
    refused_with(
        &ours(cache, &attest).assert().failure(),
        "changed since the build",
    );
    let verify = ["verify", image, "--key", secret];
    refused_with(
        &ours(cache, &verify).assert().failure(),
        "not an ECDSA P-256 public key",
    );
}

#[test]
fn mirror_credentials_stay_out_of_provenance_sboms_and_errors() {
    let repo = catalog_repo_for(&["amd64"], |_| {});
    let server = testkit::Server::start(repo.root());
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let secret = "S3cretTok";
    let with_creds = server
        .url
        .replacen("http://", &format!("http://alice:{secret}@"), 1);
    let out = tmp.path().join("img");
    let args = [
        "build",
        "static",
        "--arch",
        "amd64",
        "-o",
        out.to_str().unwrap(),
    ];
    let built = support::trusting(&cache, &with_creds, &args)
        .assert()
        .success();
    assert!(!String::from_utf8_lossy(&built.get_output().stdout).contains(secret));
    for kind in ["provenance.json", "spdx.json", "cdx.json"] {
        let text = fs_err::read_to_string(tmp.path().join(format!("img.{kind}"))).unwrap();
        assert!(text.contains("alice"), "{kind} names the mirror it used");
        assert!(!text.contains(secret), "{kind} leaks the mirror's password");
    }
    // Nor is it written into the cache (the plan cache keeps URLs without passwords), and a
    // warm build from that cache still reaches the mirror with them.
    let leaked: Vec<String> = walkdir::WalkDir::new(&cache)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            fs_err::read(e.path())
                .unwrap()
                .windows(secret.len())
                .any(|w| w == secret.as_bytes())
        })
        .map(|e| e.path().display().to_string())
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
    let again = tmp.path().join("img2");
    let args2 = [
        "build",
        "static:debug",
        "--arch",
        "amd64",
        "-o",
        again.to_str().unwrap(),
    ];
    support::trusting(&cache, &with_creds, &args2)
        .assert()
        .success();
    let dead = format!("http://alice:{secret}@127.0.0.1:1/");
    let failed = support::trusting(&tmp.path().join("c2"), &dead, &args)
        .assert()
        .failure();
    let err = failure_line(&failed);
    assert!(
        err.contains("127.0.0.1:1") && !err.contains(secret),
        "{err}"
    );
}
