#!/bin/bash
# Check Documentation/netlink/specs/akm.yaml with the kernel's own tooling
# (6.12, unpacked by install-deps.sh): the genetlink-legacy schema, then
# YNL's parser, which also resolves every reference inside the spec.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
Y=${AKM_YNL_DIR:-/var/cache/akm/ynl-6.12}
S=Documentation/netlink/specs/akm.yaml
SCHEMA=$Y/Documentation/netlink/genetlink-legacy.yaml
python3 - "$S" "$SCHEMA" "$Y/tools/net/ynl" <<'PY'
import sys, yaml, jsonschema
spec, schema, ynl = sys.argv[1:]
jsonschema.validate(yaml.safe_load(open(spec)), yaml.safe_load(open(schema)))
sys.path.insert(0, ynl)
from lib import SpecFamily
f = SpecFamily(spec, schema)
print(f"ynl-check: {spec}: family {f.name}, {len(f.msgs)} operations, valid")
PY
