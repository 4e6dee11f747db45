#!/usr/bin/env bash
# Installs the peer proxies `make bench` compares Weft with: nginx (with the
# stream module is not needed; HTTP proxying only) and HAProxy, both from
# Debian's packages. Does nothing when both are already on PATH.
set -euo pipefail

need=()
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "bench-deps: ${need[*]} missing and not root; install them or run as root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# nginx-light is the small build; fall back to nginx where it is not packaged.
if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
	need=("${need[@]/nginx-light/nginx}")
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The packages start system services; the benchmark runs its own instances.
for svc in nginx haproxy; do
	if command -v systemctl >/dev/null 2>&1; then
		systemctl stop "$svc" >/dev/null 2>&1 || true
	fi
done
command -v nginx >/dev/null && command -v haproxy >/dev/null
