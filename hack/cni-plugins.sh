#!/usr/bin/env bash
# Builds the reference CNI plugins that the network-namespace tests chain
# weft-cni after (bridge, host-local, loopback, portmap; module
# github.com/containernetworking/plugins) from the Go module proxy and
# caches them in bin/cni/VERSION/. Does nothing when they are already there.
# Build output goes to stderr; the last line on stdout is the directory that
# holds the plugins, so that
#
#   CNI_PLUGINS_DIR=$(hack/cni-plugins.sh) go test ./cni/...
#
# works (the tests run this script themselves when CNI_PLUGINS_DIR is unset).
#   hack/cni-plugins.sh [VERSION]   (default v1.10.0, or $CNI_PLUGINS_VERSION)
set -euo pipefail

version=${1:-${CNI_PLUGINS_VERSION:-v1.10.0}}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=$root/bin/cni/$version
plugins=(bridge host-local loopback portmap)

have() {
	local p
	for p in "${plugins[@]}"; do
		[[ -x $dest/$p ]] || return 1
	done
}

if have; then
	echo "$dest"
	exit 0
fi

mkdir -p "$root/bin/cni"
# Several test binaries may ask at once: the others wait for the first's build.
exec 9>"$root/bin/cni/.lock"
flock 9
if have; then
	echo "$dest"
	exit 0
fi

tmp=$(mktemp -d "$root/bin/cni/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

start=$SECONDS
echo "building CNI plugins $version (${plugins[*]})" >&2
# The plugins' go.mod has no replace directives, so the module as the proxy
# serves it builds as is (its vendor directory is not in the module zip).
src=$(cd "$tmp" && GOWORK=off GOFLAGS= go mod download -json "github.com/containernetworking/plugins@$version" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [[ -z $src || ! -f $src/go.mod ]]; then
	echo "hack/cni-plugins.sh: could not download github.com/containernetworking/plugins@$version" >&2
	exit 1
fi
(
	cd "$src"
	GOWORK=off CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-trimpath -buildvcs=false -mod=readonly" \
		go build -o "$tmp/out/" ./plugins/main/bridge ./plugins/ipam/host-local \
		./plugins/main/loopback ./plugins/meta/portmap >&2
)
rm -rf "$dest"
mv "$tmp/out" "$dest"
echo "built CNI plugins $version in $((SECONDS - start))s" >&2
echo "$dest"
