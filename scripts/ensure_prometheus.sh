#!/usr/bin/env bash
# Install Debian's prometheus package (prometheus + promtool) for the live observability tests
# (make observability) when promtool is missing. Only the binaries are used: the tests run their
# own Prometheus on a temporary config and port; the packaged service is not started.
set -euo pipefail
command -v promtool >/dev/null 2>&1 && exit 0
echo "ensure_prometheus: installing Debian's prometheus package"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus \
  -o Dpkg::Options::=--force-confold >/dev/null
# the package starts its own server where an init system runs; the tests need only the binaries
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  $SUDO systemctl stop prometheus || true
fi
command -v promtool >/dev/null
