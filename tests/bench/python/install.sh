#!/usr/bin/env bash
# Installs confluent-kafka for the benchmark peer consumer.py outside the repository: a venv
# in ${HF_BENCH_PYTHON_CACHE:-~/.cache/hubfn/bench-python} made with ${PYTHON:-python3},
# with requirements.txt installed from PyPI as wheels (confluent-kafka's wheels bundle their
# own librdkafka). Idempotent: does nothing when the cached requirements.txt equals ours and
# the venv's python exists. Progress goes to stderr; the last line on stdout is the python
# to run consumer.py with:
#   $(tests/bench/python/install.sh | tail -n 1) tests/bench/python/consumer.py ...
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${HF_BENCH_PYTHON_CACHE:-${HOME:-/root}/.cache/hubfn/bench-python}
if ! cmp -s "$here/requirements.txt" "$cache/requirements.txt" || [ ! -x "$cache/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$cache" >&2
    "$cache/bin/python" -m pip install -q --disable-pip-version-check --only-binary :all: \
        -r "$here/requirements.txt" >&2
    cp "$here/requirements.txt" "$cache/"
fi
echo "$cache/bin/python"
