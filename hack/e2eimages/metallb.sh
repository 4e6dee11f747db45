#!/usr/bin/env bash
# Builds MetalLB's controller and speaker (go.universe.tf/metallb) from
# source, static (CGO off), and caches them under bin/metallb/<version>/.
# Prints that directory last on stdout; a second run with both binaries
# present builds nothing. hack/e2eimages puts them into the images that
# "make e2e" gives its cluster (see docs/e2e.md).
#
# The build happens in a throwaway module, as hack/envtest.sh does, so that
# Weft's go.mod stays small. MetalLB v0.16.2 requires
# github.com/metallb/frr-k8s v0.0.27, which the module proxy does not
# serve; MetalLB imports only its api/v1beta1 package (the types of the
# frr-k8s BGP mode, unused in L2 mode), so the build replaces it with
# v0.0.26's api/v1beta1 plus the one type v0.0.27 added
# (AsPathPrependPrefixes and Advertise's field for it).
#
#   METALLB_VERSION  MetalLB version to build (default v0.16.2)
#   METALLB_DIR      where to put the binaries (default bin/metallb/$METALLB_VERSION)
#   GOARCH           architecture of the binaries (default: go env GOARCH)
set -euo pipefail

metallb_version=${METALLB_VERSION:-v0.16.2}
frrk8s_base=v0.0.26
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dest=${METALLB_DIR:-$root/bin/metallb/$metallb_version}

if [[ -x $dest/controller && -x $dest/speaker ]]; then
	echo "$dest"
	exit 0
fi

export GOWORK=off GOFLAGS=-mod=mod GOTOOLCHAIN=${GOTOOLCHAIN:-local}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

log() { echo "metallb: $*" >&2; }

mod_dir() { # module@version -> its directory in the module cache
	(cd "$tmp" && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
}

log "building controller and speaker $metallb_version"
mkdir "$tmp/build"
cd "$tmp/build"
go mod init e2eimages.invalid/metallb >/dev/null 2>&1

metallb_dir=$(mod_dir "go.universe.tf/metallb@$metallb_version")
frrk8s_want=$(awk '$1 == "github.com/metallb/frr-k8s" { print $2; exit }' "$metallb_dir/go.mod")
if [[ $frrk8s_want == v0.0.27 ]]; then
	# The stand-in for github.com/metallb/frr-k8s v0.0.27 (see above).
	frrk8s_dir=$(mod_dir "github.com/metallb/frr-k8s@$frrk8s_base")
	stub=$tmp/frr-k8s
	mkdir -p "$stub/api/v1beta1"
	cp "$frrk8s_dir/go.mod" "$stub/go.mod"
	for f in "$frrk8s_dir"/api/v1beta1/*.go; do
		[[ $f == *_test.go ]] || cp "$f" "$stub/api/v1beta1/"
	done
	chmod -R u+w "$stub"
	types=$stub/api/v1beta1/frrconfiguration_types.go
	field='PrefixesWithCommunity []CommunityPrefixes `json:"withCommunity,omitempty"`'
	if ! grep -qF "$field" "$types"; then
		log "frr-k8s $frrk8s_base: Advertise has no PrefixesWithCommunity field to add the new one after"
		exit 1
	fi
	sed -i "/PrefixesWithCommunity \[\]CommunityPrefixes/a\\
	PrefixesWithAsPathPrepend []AsPathPrependPrefixes \`json:\"withAsPathPrepend,omitempty\"\`" "$types"
	cat >"$stub/api/v1beta1/aspathprepend.go" <<'GO'
package v1beta1

// AsPathPrependPrefixes is the frr-k8s v0.0.27 type MetalLB v0.16.2 names.
type AsPathPrependPrefixes struct {
	AsPathPrepend uint8    `json:"asPathPrepend,omitempty"`
	Prefixes      []string `json:"prefixes,omitempty"`
}
GO
	go mod edit -replace "github.com/metallb/frr-k8s=$stub"
fi

go get "go.universe.tf/metallb@$metallb_version" >&2
out=$tmp/out
mkdir -p "$out"
ldflags="-s -w"
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "$ldflags" -o "$out/" \
	go.universe.tf/metallb/controller go.universe.tf/metallb/speaker

mkdir -p "$dest"
mv -f "$out/controller" "$out/speaker" "$dest/"
log "controller and speaker are in $dest"
echo "$dest"
