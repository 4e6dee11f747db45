#!/usr/bin/env bash
# Builds CoreDNS (github.com/coredns/coredns) from source, static (CGO
# off), and caches it under bin/coredns/<version>/. Prints that directory
# last on stdout; a second run with the binary present builds nothing.
# hack/e2eimages puts it into the image weft.dev/e2e/coredns:<version>,
# the cluster DNS that integration/cluster deploys (see docs/e2e.md).
#
# The build happens in a throwaway module, as hack/envtest.sh does, so that
# Weft's go.mod stays small. Its main is CoreDNS's own (coremain.Run) with
# only the plugins the e2e cluster's Corefile names compiled in (CoreDNS's
# documented way to choose plugins at compile time): the full plugin set
# would also build the cloud providers' SDKs, several minutes and about a
# gigabyte of modules that the cluster never uses. Without the forward
# plugin the binary cannot query an upstream resolver at all.
#
#   COREDNS_VERSION  CoreDNS version to build (default v1.15.0)
#   COREDNS_DIR      where to put the binary (default bin/coredns/$COREDNS_VERSION)
#   GOARCH           architecture of the binary (default: go env GOARCH)
set -euo pipefail

coredns_version=${COREDNS_VERSION:-v1.15.0}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dest=${COREDNS_DIR:-$root/bin/coredns/$coredns_version}

if [[ -x $dest/coredns ]]; then
	echo "$dest"
	exit 0
fi

export GOWORK=off GOFLAGS=-mod=mod GOTOOLCHAIN=${GOTOOLCHAIN:-local}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

log() { echo "coredns: $*" >&2; }

log "building coredns $coredns_version"
mkdir "$tmp/build"
cd "$tmp/build"
go mod init e2eimages.invalid/coredns >/dev/null 2>&1
# The plugins of integration/cluster/dns.yaml's Corefile. The order of
# their execution is CoreDNS's (dnsserver.Directives, from plugin.cfg),
# whatever the order of the imports.
cat >main.go <<'GO'
// Command coredns is CoreDNS with the plugins Weft's e2e cluster uses.
package main

import (
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"

	"github.com/coredns/coredns/coremain"
)

func main() { coremain.Run() }
GO
# Not "go get": it would fetch the imports of CoreDNS's own main, every plugin.
go mod edit -require "github.com/coredns/coredns@$coredns_version"
out=$tmp/out
mkdir -p "$out"
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o "$out/coredns" .

mkdir -p "$dest"
mv -f "$out/coredns" "$dest/"
log "coredns is in $dest"
echo "$dest"
