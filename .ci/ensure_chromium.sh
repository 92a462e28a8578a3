#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests when it is missing and we are root.
# Where it cannot, the UI tests skip with a reason (except under .ci/run, which sets
# CVNB_REQUIRE_DATA=1: there they fail).
set -u
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null \
    || echo "WARNING: could not install chromium; UI tests will skip (fail under .ci/run)" >&2
else
  echo "NOTE: chromium is missing and this is not root; UI tests will skip (fail under .ci/run)" >&2
fi
exit 0
