#!/usr/bin/env bash
# Installs what the end-to-end tests (scripts/e2e.sh) need when it is
# missing: kcat (librdkafka's command-line client, a Debian package) and the
# npm packages pinned in e2e/package-lock.json (kafkajs). Quick and quiet
# when everything is there already; says what it does otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "deps: $*"; }

# Root runs apt-get directly; anyone else goes through sudo.
apt_get() {
	if [ "$(id -u)" -eq 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get "$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo env DEBIAN_FRONTEND=noninteractive apt-get "$@"
	else
		say "kcat is missing and installing it needs root or sudo: install the Debian package kcat" >&2
		exit 1
	fi
}

if command -v kcat >/dev/null 2>&1; then
	say "kcat present ($(command -v kcat))"
else
	say "installing kcat with apt-get"
	# A fresh machine's package lists may be empty or stale: update only
	# when the install fails without it.
	if ! apt_get install -y kcat; then
		say "apt-get install failed; running apt-get update and retrying"
		apt_get update
		apt_get install -y kcat
	fi
	command -v kcat >/dev/null 2>&1 || { say "kcat still missing after install" >&2; exit 1; }
fi

for tool in node npm; do
	command -v "$tool" >/dev/null 2>&1 || {
		say "$tool is required for the kafkajs tests; install Node.js 20+ with npm" >&2
		exit 1
	}
done

# npm ci wipes and reinstalls node_modules, so run it only when the
# installed tree does not match the lock file. npm writes
# node_modules/.package-lock.json on install; it equals the lock file's
# package list when the tree is in sync.
lock=e2e/package-lock.json
installed=e2e/node_modules/.package-lock.json
in_sync() {
	[ -f "$installed" ] || return 1
	node -e '
		const fs = require("fs");
		const want = JSON.parse(fs.readFileSync(process.argv[1])).packages;
		const have = JSON.parse(fs.readFileSync(process.argv[2])).packages;
		const strip = (p) => Object.fromEntries(Object.entries(p)
			.filter(([k]) => k !== "").map(([k, v]) => [k, v.version + " " + (v.integrity || "")]));
		process.exit(JSON.stringify(strip(want)) === JSON.stringify(strip(have)) ? 0 : 1);
	' "$lock" "$installed"
}
if in_sync; then
	say "e2e npm packages present ($(node -p 'require("./e2e/node_modules/kafkajs/package.json").version' | sed 's/^/kafkajs /'))"
else
	say "installing e2e npm packages: npm ci --prefix e2e"
	npm ci --prefix e2e --no-audit --no-fund
fi
