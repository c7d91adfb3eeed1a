#!/usr/bin/python3
"""validate-recordings.py RECORD_DIR [SCHEMA_DIR]

Validate every JSON body livepatch-server recorded (--record-dir) against the
protocol schemas in schemas/api/. Exit 1 on any failure or if nothing was recorded."""
import json
import os
import sys

import jsonschema

SCHEMAS = {
    ("register", "request"): "register-request.schema.json",
    ("register", "response"): "register-response.schema.json",
    ("updates", "request"): "updates-request.schema.json",
    ("updates", "response"): "updates-response.schema.json",
    ("kernels-supported", "response"): "kernel-supported-response.schema.json",
    ("error", "response"): "error.schema.json",
    ("sync-patches", "response"): "sync-patches-response.schema.json",
}


def main():
    record_dir = sys.argv[1]
    schema_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "..", "schemas", "api")
    schemas = {k: json.load(open(os.path.join(schema_dir, v))) for k, v in SCHEMAS.items()}
    files = sorted(f for f in os.listdir(record_dir) if f.endswith(".json"))
    if not files:
        print("no recordings in", record_dir)
        return 1
    failures = 0
    seen = set()
    for name in files:
        _, endpoint, direction = name[:-5].split("-", 1)[0], *name[:-5].split("-", 1)[1].rsplit("-", 1)
        key = (endpoint, direction)
        if key not in schemas:
            print(f"{name}: no schema for {key}")
            failures += 1
            continue
        try:
            jsonschema.validate(json.load(open(os.path.join(record_dir, name))), schemas[key])
            seen.add(key)
        except (jsonschema.ValidationError, json.JSONDecodeError) as e:
            print(f"{name}: {str(e).splitlines()[0]}")
            failures += 1
    print(f"{len(files) - failures} of {len(files)} recorded bodies valid; kinds: {sorted(seen)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
