#!/usr/bin/env bash
# Builds the real kube-apiserver and etcd that envtest runs, from source,
# and caches them under bin/envtest/<kubernetes version>/. Prints that
# directory last on stdout, so that
#
#   KUBEBUILDER_ASSETS=$(hack/envtest.sh) go test ./controlplane/...
#
# works. A second run with both binaries present builds nothing.
#
# kube-apiserver comes from k8s.io/kubernetes, built in a throwaway module
# that replaces each staging module (k8s.io/api, k8s.io/client-go, ...) with
# its published v0.<minor>.<patch> release, because k8s.io/kubernetes' own
# go.mod points them at ./staging, which the module proxy does not serve.
# etcd is the main package of go.etcd.io/etcd/server/v3 at the version that
# kubernetes pins in its go.mod. Progress goes to stderr.
#
#   K8S_VERSION   kubernetes version to build (default v1.37.2)
#   ENVTEST_DIR   where to put the binaries (default bin/envtest/$K8S_VERSION)
set -euo pipefail

k8s_version=${K8S_VERSION:-v1.37.2}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${ENVTEST_DIR:-$root/bin/envtest/$k8s_version}

if [[ -x $dest/kube-apiserver && -x $dest/etcd ]]; then
	echo "$dest"
	exit 0
fi

# v1.37.2 -> v0.37.2: the staging modules' release tag.
staging_version=v0.${k8s_version#v1.}

export GOWORK=off GOFLAGS=-mod=mod GOTOOLCHAIN=${GOTOOLCHAIN:-local}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

log() { echo "envtest: $*" >&2; }

k8s_gomod=$(cd "$tmp" && go mod download -json "k8s.io/kubernetes@$k8s_version" |
	sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
if [[ ! -f $k8s_gomod ]]; then
	log "cannot find the go.mod of k8s.io/kubernetes@$k8s_version"
	exit 1
fi

# Every module that k8s.io/kubernetes replaces with a ./staging directory.
mapfile -t staging < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$k8s_gomod")
if ((${#staging[@]} == 0)); then
	log "found no staging modules in the go.mod of k8s.io/kubernetes@$k8s_version"
	exit 1
fi
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "$k8s_gomod")
if [[ -z $etcd_version ]]; then
	log "k8s.io/kubernetes@$k8s_version does not pin go.etcd.io/etcd/server/v3"
	exit 1
fi

out=$tmp/out
mkdir -p "$out"

# kube-apiserver.
log "building kube-apiserver $k8s_version (${#staging[@]} staging modules at $staging_version)"
mkdir "$tmp/apiserver"
(
	cd "$tmp/apiserver"
	go mod init envtest.invalid/apiserver >/dev/null 2>&1
	for m in "${staging[@]}"; do
		go mod edit -replace "$m=$m@$staging_version"
	done
	go get "k8s.io/kubernetes/cmd/kube-apiserver@$k8s_version" >&2
	minor=${k8s_version#v1.}
	minor=${minor%%.*}
	ldflags="-s -w"
	for kv in "gitVersion=$k8s_version" gitMajor=1 "gitMinor=$minor" gitTreeState=clean; do
		ldflags+=" -X k8s.io/component-base/version.$kv"
	done
	go build -trimpath -ldflags "$ldflags" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
)

# etcd.
log "building etcd $etcd_version"
mkdir "$tmp/etcd"
(
	cd "$tmp/etcd"
	go mod init envtest.invalid/etcd >/dev/null 2>&1
	go get "go.etcd.io/etcd/server/v3@$etcd_version" >&2
	go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3
)

mkdir -p "$dest"
mv -f "$out/kube-apiserver" "$out/etcd" "$dest/"
log "kube-apiserver and etcd are in $dest"
echo "$dest"
