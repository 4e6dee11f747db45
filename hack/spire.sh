#!/usr/bin/env bash
# Builds SPIRE's server and agent (module github.com/spiffe/spire) from the Go
# module proxy and caches them in bin/spire/VERSION/, for the SPIRE
# interoperability test. Does nothing when both binaries are already there.
# Build output goes to stderr; the last line on stdout is the directory that
# holds spire-server and spire-agent.
#   hack/spire.sh [VERSION]        (default v1.13.3, or $SPIRE_VERSION)
# SPIRE's datastore uses go-sqlite3, so this needs cgo and a C compiler.
set -euo pipefail

version=${1:-${SPIRE_VERSION:-v1.13.3}}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=$root/bin/spire/$version

have() { [[ -x $dest/spire-server && -x $dest/spire-agent ]]; }

if have; then
	echo "$dest"
	exit 0
fi

mkdir -p "$root/bin/spire"
# Two test binaries may ask at once: the second waits for the first's build.
exec 9>"$root/bin/spire/.lock"
flock 9
if have; then
	echo "$dest"
	exit 0
fi

tmp=$(mktemp -d "$root/bin/spire/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

start=$SECONDS
echo "building SPIRE $version (spire-server, spire-agent); this takes several minutes" >&2
# SPIRE's go.mod has no replace directives, so its own module, as the proxy
# serves it, builds as is. (`go install ...@version` would need the module's
# version list, which the proxy here does not serve.)
src=$(cd "$tmp" && GOWORK=off GOFLAGS= go mod download -json "github.com/spiffe/spire@$version" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [[ -z $src || ! -f $src/go.mod ]]; then
	echo "hack/spire.sh: could not download github.com/spiffe/spire@$version" >&2
	exit 1
fi
(
	cd "$src"
	GOWORK=off CGO_ENABLED=1 GOTOOLCHAIN=local GOFLAGS="-trimpath -buildvcs=false -mod=readonly" \
		go build -o "$tmp/out/" ./cmd/spire-server ./cmd/spire-agent >&2
)
rm -rf "$dest"
mv "$tmp/out" "$dest"
echo "built SPIRE $version in $((SECONDS - start))s" >&2
echo "$dest"
