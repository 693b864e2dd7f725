#!/usr/bin/env bash
# Installs what the VS Code end-to-end test (tests/e2e/test_vscode.py) needs, once, under
# .e2e/cache (gitignored): code-server 4.100.3 from npm (the newest whose engines field accepts
# Node 20), playwright-core, and Debian's chromium and ripgrep through apt-get (as root).
# Idempotent: a stamp per step; rerunning does nothing once everything is there.
# code-server's postinstall downloads ripgrep from GitHub, which is not reachable here, so the
# install runs with --ignore-scripts, Debian's rg is copied where @vscode/ripgrep looks, and the
# native modules code-server needs (argon2, node-pty, spdlog, native-watchdog) are rebuilt locally.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${TORCHPIT_E2E_CACHE:-$root/.e2e/cache}"
cs_version="4.100.3"
pw_version="1.57.0"
cs_prefix="$cache/code-server-$cs_version"
cs_dir="$cs_prefix/lib/node_modules/code-server"
mkdir -p "$cache"
say() { echo "setup_vscode: $*"; }

if ! command -v chromium >/dev/null 2>&1 || ! command -v rg >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "apt-get install chromium ripgrep"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ripgrep >/dev/null
  else
    say "chromium and ripgrep are needed (apt-get install chromium ripgrep, as root)" >&2
    exit 1
  fi
fi

if [ ! -f "$cs_prefix/.installed" ]; then
  say "npm install code-server@$cs_version into $cs_prefix"
  rm -rf "$cs_prefix"
  npm install -g --prefix "$cs_prefix" --ignore-scripts --no-audit --no-fund --loglevel=error "code-server@$cs_version"
  (
    cd "$cs_dir/lib/vscode"
    npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
    mkdir -p node_modules/@vscode/ripgrep/bin
    cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
    # kerberos is left unbuilt: it needs libkrb5-dev and serves only proxy authentication.
    npm_config_yes=true npm rebuild --loglevel=error node-pty @vscode/spdlog native-watchdog
    rm -rf node_modules.asar && ln -s node_modules node_modules.asar
    (cd bin/remote-cli && ln -sf code-linux.sh code-server)
    (cd bin/helpers && ln -sf browser-linux.sh browser.sh)
    cd extensions && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
  )
  (cd "$cs_dir" && npm_config_yes=true npm rebuild --loglevel=error argon2)
  touch "$cs_prefix/.installed"
fi

if [ ! -f "$cache/node/.installed-$pw_version" ]; then
  say "npm install playwright-core@$pw_version into $cache/node"
  mkdir -p "$cache/node"
  (cd "$cache/node" && npm install --prefix . --no-audit --no-fund --loglevel=error "playwright-core@$pw_version")
  touch "$cache/node/.installed-$pw_version"
fi
say "ready: $cs_prefix/bin/code-server, $(command -v chromium)"
