#!/usr/bin/env python3
"""Checks the import rules ARCHITECTURE.md states, for the product crate (and file sizes for
every crate): prints which top-level module of the library uses which (from `crate::` paths),
and fails on an import the rules do not allow, on a cycle, on a clap type or an environment
read below the binary, and on a source file over 600 lines.

Usage: module-graph.py [SRC_DIR]   (default crates/distroless/src; sizes: every crates/*/src)
When the shape changes on purpose, change ALLOWED here and the rules in ARCHITECTURE.md together."""
import glob, os, re, sys

src = sys.argv[1] if len(sys.argv) > 1 else "crates/distroless/src"
MAX_LINES = 600

# Who may import whom, lowest first (ARCHITECTURE.md, "Module imports").
ALLOWED = {
    "files": set(),
    "report": set(),
    "model": {"files"},
    "cache": {"files"},
    "rootfs": {"model"},
    "plan": {"cache", "model", "report"},
    "debs": {"plan"},
    "inspect": {"model", "rootfs"},
    "sbom": {"cache", "debs", "model", "plan", "rootfs"},
    "layers": {"cache", "debs", "model", "plan", "rootfs", "sbom"},
    "app": {"cache", "files", "layers", "model", "plan", "rootfs", "sbom"},
    "request": {"app", "layers", "model", "sbom"},
    "attest": {"app", "files", "model", "plan", "request", "sbom"},
    "output": {"attest", "model", "sbom"},
    "image": {"app", "debs", "layers", "model", "output", "plan", "request", "rootfs", "sbom"},
    "finish": {"attest", "files", "image", "inspect", "model", "output", "request"},
    "foreign": {"app", "attest", "finish", "image", "layers", "model", "output", "plan",
                "report", "request", "rootfs", "sbom"},
    "build": {"app", "attest", "finish", "foreign", "image", "model", "output", "plan",
              "report", "request"},
    "publish": {"app", "attest", "build", "files", "image", "model", "output", "plan",
                "request"},
    "render": {"app", "attest", "inspect", "model", "output", "plan", "publish"},
}

failures = []
edges = {}
for path in glob.glob(os.path.join(src, "**/*.rs"), recursive=True):
    rel = os.path.relpath(path, src)
    if rel in ("lib.rs", "main.rs") or rel.startswith("cli/") or rel == "cli.rs":
        continue
    top = rel.split("/")[0].removesuffix(".rs")
    text = open(path).read()
    code = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]  # unit tests may reach anywhere
    used = set(re.findall(r"crate::(\w+)", code))
    used |= {m for m in re.findall(r"use crate::\{([^}]*)\}", code) for m in re.findall(r"(\w+)", m)}
    edges.setdefault(top, set()).update(u for u in used if u != top)
    if re.search(r"\bclap::", code):
        failures.append(f"{rel}: a clap type below the binary (cli/ turns flags into requests)")
    if re.search(r"std::env::var", code) and rel != "cache/mod.rs":
        failures.append(f"{rel}: reads the environment (the binary resolves settings once: cli/env.rs)")

for k in sorted(edges):
    print(f"{k:10} → {', '.join(sorted(edges[k])) or '-'}")
    if k not in ALLOWED:
        failures.append(f"{k}: a module the rules do not name (add it to ALLOWED and ARCHITECTURE.md)")
        continue
    for m in sorted(edges[k] - ALLOWED[k]):
        failures.append(f"{k} imports {m}: not allowed by the rules")

for path in glob.glob("crates/*/src/**/*.rs", recursive=True):
    n = sum(1 for _ in open(path))
    if n > MAX_LINES:
        failures.append(f"{path}: {n} lines (at most {MAX_LINES})")

def cycle():
    state = {}
    def visit(n, stack):
        state[n] = 1
        for m in edges.get(n, ()):
            if state.get(m) == 1:
                return stack + [n, m]
            if m not in state:
                c = visit(m, stack + [n])
                if c:
                    return c
        state[n] = 2
        return None
    for n in edges:
        if n not in state:
            c = visit(n, [])
            if c:
                return c
    return None

c = cycle()
if c:
    failures.append("import cycle: " + " → ".join(c))
for f in failures:
    print(f)
if failures:
    sys.exit(1)
print("imports follow the rules; no cycle; no file over", MAX_LINES, "lines")
