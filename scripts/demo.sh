#!/usr/bin/env bash
# The main job: builds mailguard, installs what the lab needs, and runs the lab
# demo on the embedded seed configuration (network namespaces, real SMTP
# traffic through the firewall, alerts and `show ip inspect all`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"
bash scripts/install-deps.sh
cargo build --release --locked -p dataplane --bin mailguard
exec ./target/release/mailguard lab demo "$@"
