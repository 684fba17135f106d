#!/usr/bin/env bash
# Regenerates the settings tables of docs/configuration.md from hubfn's option tables: each
# block between "<!-- hubfn help TOPIC -->" and "<!-- end hubfn help -->" becomes the output
# of `hubfn help TOPIC`. tests/unit/test_options.c fails when a block is out of date.
#   tools/docs-tables.sh [HUBFN]
set -eu
cd "$(dirname "$0")/.."
hubfn=${1:-build/hubfn}
[ -x "$hubfn" ] || make --no-print-directory -s "$hubfn"
python3 - "$hubfn" docs/configuration.md <<'PY'
import re, subprocess, sys
hubfn, path = sys.argv[1], sys.argv[2]
text = open(path).read()
def table(m):
    topic = m.group(1)
    out = subprocess.run([hubfn, "help", topic], check=True, capture_output=True, text=True).stdout
    return "<!-- hubfn help %s -->\n%s<!-- end hubfn help -->" % (topic, out)
new = re.sub(r"<!-- hubfn help (\S+) -->\n.*?<!-- end hubfn help -->", table, text, flags=re.S)
if new != text:
    open(path, "w").write(new)
    print("updated", path)
PY
