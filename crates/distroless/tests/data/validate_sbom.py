"""Validates an SBOM against the published schema shipped in tests/data/schemas.

Usage: validate_sbom.py SCHEMA_DIR spdx|cdx|intoto|slsa FILE. Exit 0 when valid. `intoto`
checks an in-toto Statement v1 and, when its predicate is SLSA provenance v1, the predicate
too; `slsa` checks a bare SLSA provenance v1 predicate.
"""
import json, sys, pathlib
from jsonschema import Draft201909Validator, Draft7Validator, validators
from referencing import Registry, Resource
schemas = pathlib.Path(sys.argv[1])
kind, doc = sys.argv[2], json.load(open(sys.argv[3]))
def check(name, value):
    schema = json.load(open(schemas / name))
    return list(validators.validator_for(schema)(schema).iter_errors(value))
if kind == "intoto":
    errs = check("intoto-statement-v1.schema.json", doc)
    if doc.get("predicateType") == "https://slsa.dev/provenance/v1":
        errs += check("slsa-provenance-v1.schema.json", doc.get("predicate"))
elif kind == "slsa":
    errs = check("slsa-provenance-v1.schema.json", doc)
elif kind == "spdx":
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
