#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (`.ci/run` calls this script):
# installs test dependencies, checks formatting and lints, builds the binaries
# the integration tests drive, and runs every test of the workspace. Ends with
# one summary line over all test binaries: `summary: N passed, N failed, N skipped`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

bash scripts/install-deps.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --bins --locked

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { p += $4; f += $6; i += $8 }
     END { printf "summary: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
exit "$status"
