"""Imports every standard-library module Debian ships in the image, and checks the runtime.

The module list is generated from the interpreter's own library directory (top-level .py
files, packages, and lib-dynload extensions), not typed by hand. Prints one JSON object.
"""
import importlib
import json
import os
import sys
import sysconfig

stdlib = sysconfig.get_paths()["stdlib"]
names = set()
for entry in os.listdir(stdlib):
    path = os.path.join(stdlib, entry)
    if entry.endswith(".py"):
        names.add(entry[:-3])
    elif os.path.isfile(os.path.join(path, "__init__.py")):
        names.add(entry)
dynload = os.path.join(stdlib, "lib-dynload")
for entry in os.listdir(dynload):
    if entry.endswith(".so"):
        names.add(entry.split(".")[0])
# Modules whose import has effects beyond importing (opening a browser, printing a poem).
names -= {"antigravity", "this", "__phello__", "__hello__", "site-packages", "dist-packages"}
failed = {}
for name in sorted(names):
    try:
        importlib.import_module(name)
    except BaseException as e:  # noqa: BLE001 - report every failure, whatever its kind
        failed[name] = f"{type(e).__name__}: {e}"

import ctypes.util
import ssl
import subprocess

context = ssl.create_default_context()
try:
    subprocess.run("echo hi", shell=True, check=True)
    shell = "ran"
except (FileNotFoundError, OSError) as e:
    shell = type(e).__name__
print(json.dumps({
    "version": sys.version.split()[0],
    "modules": len(names),
    "failed": failed,
    "ca_certs": context.cert_store_stats()["x509_ca"],
    "libc": ctypes.util.find_library("c"),
    "shell": shell,
    "encoding": sys.getfilesystemencoding(),
}))
