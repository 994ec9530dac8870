#!/usr/bin/env python3
"""The download floor of a cold build: every file it needs (the suites' InRelease and
Packages.xz, and the plan's .debs), fetched all at once with one thread per file, as fast as
this machine and mirror allow. Reads a `build --dry-run --json` plan on stdin and the suites'
mirror URLs from it; prints the wall time in seconds and the bytes fetched."""
import json, sys, time, threading, urllib.request

plans = json.load(sys.stdin)
urls = set()
for plan in plans:
    arch = plan["arch"]
    for tier in plan["tiers"]:
        for p in tier["packages"]:
            mirror = p["mirror"].rstrip("/") + "/"
            urls.add(mirror + p["filename"])
            suite = p["suite"]
    ca = plan["ca_certificates"]
    urls.add(ca["mirror"].rstrip("/") + "/" + ca["filename"])
mirrors = {}
for plan in plans:
    for tier in plan["tiers"]:
        for p in tier["packages"]:
            mirrors[p["suite"]] = p["mirror"].rstrip("/") + "/"
codename = sorted(mirrors, key=len)[0].split("-")[0]
debian = mirrors.get(codename)
security = mirrors.get(codename + "-security", debian.replace("/debian/", "/debian-security/"))
arch = plans[0]["arch"]
for base, suite in [(debian, codename), (debian, codename + "-updates"), (security, codename + "-security")]:
    urls.add(f"{base}dists/{suite}/InRelease")
    # The index distroless reads: gzip where the suite has it, else xz.
    urls.add((f"{base}dists/{suite}/main/binary-{arch}/Packages.gz",
              f"{base}dists/{suite}/main/binary-{arch}/Packages.xz"))

total = [0]
lock = threading.Lock()
def get(u):
    n = 0
    for url in (u if isinstance(u, tuple) else (u,)):
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                n = len(r.read())
            break
        except Exception:
            continue
    with lock:
        total[0] += n

start = time.monotonic()
threads = [threading.Thread(target=get, args=(u,)) for u in urls]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"{time.monotonic() - start:.3f} {total[0]} {len(urls)}")
