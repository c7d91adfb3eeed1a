#!/usr/bin/env bash
# schema_test.sh SNAPCRAFT_YAML SCHEMA
# snap/snapcraft.yaml validates against the official snapcraft schema. The
# schema is an optional input: CI has it (../shared/reference beside the clone),
# a public clone does not. Absent, the test reports SKIPPED (exit 77, ctest's
# SKIP_RETURN_CODE) with the reason, except under CI=true where a missing
# input is a broken CI setup and fails.
set -euo pipefail
yaml=${1:?snapcraft.yaml} schema=${2:?schema path}
if [[ ! -f "$schema" ]]; then
  if [[ "${CI:-}" == true ]]; then
    echo "FAIL: CI=true but the snapcraft schema is missing: $schema" >&2
    exit 1
  fi
  echo "SKIPPED: official snapcraft schema not found at $schema (it comes from ../shared/reference beside the" \
       "repository; configure with -DLIVEPATCH_SNAPCRAFT_SCHEMA=/path/to/snapcraft.schema.json to run this check)"
  exit 77
fi
/usr/bin/python3 - "$yaml" "$schema" <<'PYEOF'
import json, sys, yaml, jsonschema
doc = yaml.safe_load(open(sys.argv[1]))
schema = json.load(open(sys.argv[2]))
jsonschema.validate(doc, schema)
print("snapcraft.yaml valid against", sys.argv[2])
PYEOF
echo "snap-schema: 1 passed, 0 failed"
