#!/usr/bin/env bash
# Debian's Chromium for the web UI's browser tests (tests/e2e/web): Playwright drives it with
# executable_path=/usr/bin/chromium, never a browser of its own (nothing is downloaded but the
# distribution's package). A no-op when it is already there.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install_chromium: /usr/bin/chromium is missing; as root run:" \
       "apt-get install -y --no-install-recommends chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium
