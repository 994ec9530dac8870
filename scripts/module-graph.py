#!/usr/bin/env python3
"""Prints which top-level module of a crate uses which (from `crate::` paths and `super::`
paths in child modules), and fails if the graph has a cycle. Usage: module-graph.py SRC_DIR"""
import glob, os, re, sys

src = sys.argv[1] if len(sys.argv) > 1 else "crates/distroless/src"
edges = {}
for path in glob.glob(os.path.join(src, "**/*.rs"), recursive=True):
    rel = os.path.relpath(path, src)
    if rel in ("lib.rs", "main.rs") or rel.startswith("cli/"):
        continue
    top = rel.split("/")[0].removesuffix(".rs")
    text = open(path).read()
    text = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]  # unit tests may reach anywhere
    used = set(re.findall(r"crate::(\w+)", text))
    used |= {m for m in re.findall(r"use crate::\{([^}]*)\}", text) for m in re.findall(r"(\w+)", m)}
    edges.setdefault(top, set()).update(u for u in used if u != top)
for k in sorted(edges):
    print(f"{k:10} → {', '.join(sorted(edges[k])) or '-'}")

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
    print("import cycle:", " → ".join(c))
    sys.exit(1)
print("no import cycle")
