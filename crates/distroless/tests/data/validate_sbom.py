"""Validates an SBOM against the published schema shipped in tests/data/schemas.

Usage: validate_sbom.py SCHEMA_DIR spdx|cdx FILE. Exit 0 when valid.
"""
import json, sys, pathlib
from jsonschema import Draft201909Validator, Draft7Validator, validators
from referencing import Registry, Resource
schemas = pathlib.Path(sys.argv[1])
kind, doc = sys.argv[2], json.load(open(sys.argv[3]))
if kind == "spdx":
    schema = json.load(open(schemas / "spdx-2.3.schema.json"))
    cls = validators.validator_for(schema)
    errs = list(cls(schema).iter_errors(doc))
else:
    reg = Registry()
    for name in ["spdx.schema.json", "jsf-0.82.schema.json", "bom-1.6.schema.json"]:
        s = json.load(open(schemas / name))
        reg = reg.with_resource(s["$id"], Resource.from_contents(s))
        reg = reg.with_resource(name, Resource.from_contents(s))
    schema = json.load(open(schemas / "bom-1.6.schema.json"))
    cls = validators.validator_for(schema)
    errs = list(cls(schema, registry=reg).iter_errors(doc))
for e in errs[:5]:
    print("INVALID:", e.json_path, e.message[:200])
print("errors", len(errs))
sys.exit(1 if errs else 0)
