#!/usr/bin/env bash
# Follow the README as a new user would: clone this repository into a temporary
# folder and run one of its two commands there (default: make test); after `demo`,
# also run the README's Python blocks as written.
#   scripts/fresh_clone_check.sh [test|demo]
set -euo pipefail
target=${1:-test}
src=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
dir=$(mktemp -d)
trap 'echo "fresh clone left in $dir"' EXIT
git clone --quiet "$src" "$dir/zfnet"
cd "$dir/zfnet"
time make "$target"
if [ "$target" = demo ]; then
  time .venv/bin/python scripts/readme_python.py
fi
