#!/usr/bin/env bash
# Installs everything mailguard's tests and lab need on a fresh Debian machine:
# iproute2 (namespaces, veth), ethtool (offloads off), nftables (the kernel peer
# of the side-by-side benchmarks), postfix (smtp-sink, smtp-source), swaks,
# tcpdump and ping. Idempotent: does nothing when all tools are present.
set -euo pipefail

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v ethtool >/dev/null || need+=(ethtool)
command -v nft >/dev/null || need+=(nftables)
command -v smtp-sink >/dev/null && command -v smtp-source >/dev/null || need+=(postfix)
command -v swaks >/dev/null || need+=(swaks)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v ping >/dev/null || need+=(iputils-ping)
command -v python3 >/dev/null || need+=(python3)

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${need[*]}" >&2
    exit 1
fi
echo "install-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# smtp-sink/smtp-source live in /usr/sbin on Debian.
for t in smtp-sink smtp-source; do
    command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || { echo "install-deps: $t missing after install" >&2; exit 1; }
done
