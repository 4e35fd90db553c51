#!/usr/bin/env bash
# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; never `playwright install`).
# Idempotent: does nothing when /usr/bin/chromium and the emoji font (for screenshots) are there.
# Needs root (or sudo) for apt-get.
set -euo pipefail
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ] && [ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]; then
    echo "chromium: $("$CHROMIUM" --version 2>/dev/null || echo present)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "chromium is missing and this user cannot run apt-get: install Debian's 'chromium' package as root" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core fonts-noto-color-emoji >/dev/null
echo "chromium: $("$CHROMIUM" --version 2>/dev/null)"
