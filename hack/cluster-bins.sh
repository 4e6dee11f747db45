#!/usr/bin/env bash
# Builds everything the one-node end-to-end cluster runs (docs/e2e.md) and
# caches it under bin/cluster/<kubernetes version>/: kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet, kube-proxy, etcd,
# containerd, ctr and containerd-shim-runc-v2. Installs the Debian packages
# runc, containernetworking-plugins (/usr/lib/cni, with iptables), conntrack
# and nftables (the nft that kube-proxy's nftables mode runs) when they
# are missing. Prints the directory last on stdout, so that
#
#   bins=$(hack/cluster-bins.sh)
#
# works. A second run with everything present builds nothing.
#
# Kubernetes comes from k8s.io/kubernetes, built in a throwaway module that
# replaces each staging module with its published v0.<minor>.<patch> release
# (the same approach as hack/envtest.sh, whose Go build cache it shares).
# The five binaries are built by one `go build` so that they compile their
# common packages once. etcd is go.etcd.io/etcd/server/v3 at the version that
# kubernetes pins; an etcd already built by hack/envtest.sh is reused.
# containerd is built with CGO_ENABLED=0 and the tags its Makefile uses
# (urfave_cli_no_docs; no_grpc for the shim) plus no_btrfs, no_devmapper and
# no_zfs: those snapshotters need C headers or devices the cluster does not
# use (it runs overlayfs). Progress goes to stderr.
#
#   K8S_VERSION        kubernetes version (default v1.37.2)
#   CONTAINERD_VERSION containerd version (default v2.4.2)
#   CLUSTER_BIN_DIR    where to put the binaries (default bin/cluster/$K8S_VERSION)
#   ENVTEST_DIR        where hack/envtest.sh keeps its etcd (default bin/envtest/$K8S_VERSION)
set -euo pipefail

k8s_version=${K8S_VERSION:-v1.37.2}
containerd_version=${CONTAINERD_VERSION:-v2.4.2}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${CLUSTER_BIN_DIR:-$root/bin/cluster/$k8s_version}
envtest_dir=${ENVTEST_DIR:-$root/bin/envtest/$k8s_version}

k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
containerd_bins=(containerd ctr containerd-shim-runc-v2)
debs=(runc containernetworking-plugins conntrack nftables)

log() { echo "cluster-bins: $*" >&2; }

# all_present DIR NAME...: every NAME is an executable in DIR.
all_present() {
	local dir=$1 b
	shift
	for b in "$@"; do
		[[ -x $dir/$b ]] || return 1
	done
}

# containerd_current: the containerd binaries are there and are $containerd_version.
containerd_current() {
	all_present "$dest" "${containerd_bins[@]}" &&
		[[ " $("$dest/containerd" --version 2>/dev/null) " == *" $containerd_version "* ]]
}

# missing_debs: prints the Debian packages that are not installed.
missing_debs() {
	local p
	for p in "${debs[@]}"; do
		[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || echo "$p"
	done
}

mapfile -t want_debs < <(missing_debs)
if ((${#want_debs[@]} > 0)); then
	log "installing Debian packages: ${want_debs[*]}"
	apt-get update >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${want_debs[@]}" >&2
fi

need_k8s=false need_etcd=false need_containerd=false
all_present "$dest" "${k8s_bins[@]}" || need_k8s=true
all_present "$dest" etcd || need_etcd=true
containerd_current || need_containerd=true

if ! $need_k8s && ! $need_etcd && ! $need_containerd; then
	echo "$dest"
	exit 0
fi

export GOWORK=off GOFLAGS=-mod=mod GOTOOLCHAIN=${GOTOOLCHAIN:-local}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$dest"

if $need_k8s || { $need_etcd && [[ ! -x $envtest_dir/etcd ]]; }; then
	k8s_gomod=$(cd "$tmp" && go mod download -json "k8s.io/kubernetes@$k8s_version" |
		sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
	if [[ ! -f $k8s_gomod ]]; then
		log "cannot find the go.mod of k8s.io/kubernetes@$k8s_version"
		exit 1
	fi
fi

if $need_k8s; then
	# Every module that k8s.io/kubernetes replaces with a ./staging directory.
	mapfile -t staging < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$k8s_gomod")
	if ((${#staging[@]} == 0)); then
		log "found no staging modules in the go.mod of k8s.io/kubernetes@$k8s_version"
		exit 1
	fi
	# v1.37.2 -> v0.37.2: the staging modules' release tag.
	staging_version=v0.${k8s_version#v1.}
	minor=${k8s_version#v1.}
	minor=${minor%%.*}
	pkgs=()
	for b in "${k8s_bins[@]}"; do
		pkgs+=("k8s.io/kubernetes/cmd/$b")
	done
	log "building ${k8s_bins[*]} $k8s_version (${#staging[@]} staging modules at $staging_version)"
	mkdir -p "$tmp/k8s" "$tmp/out/k8s"
	(
		cd "$tmp/k8s"
		go mod init cluster-bins.invalid/kubernetes >/dev/null 2>&1
		for m in "${staging[@]}"; do
			go mod edit -replace "$m=$m@$staging_version"
		done
		go get "${pkgs[@]/%/@$k8s_version}" >&2
		ldflags="-s -w"
		for kv in "gitVersion=$k8s_version" gitMajor=1 "gitMinor=$minor" gitTreeState=clean; do
			ldflags+=" -X k8s.io/component-base/version.$kv"
		done
		go build -trimpath -ldflags "$ldflags" -o "$tmp/out/k8s/" "${pkgs[@]}"
	)
	for b in "${k8s_bins[@]}"; do
		mv -f "$tmp/out/k8s/$b" "$dest/"
	done
fi

if $need_etcd; then
	if [[ -x $envtest_dir/etcd ]]; then
		log "reusing $envtest_dir/etcd"
		ln -f "$envtest_dir/etcd" "$dest/etcd" 2>/dev/null || cp -f "$envtest_dir/etcd" "$dest/etcd"
	else
		etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "$k8s_gomod")
		if [[ -z $etcd_version ]]; then
			log "k8s.io/kubernetes@$k8s_version does not pin go.etcd.io/etcd/server/v3"
			exit 1
		fi
		log "building etcd $etcd_version"
		mkdir -p "$tmp/etcd" "$tmp/out"
		(
			cd "$tmp/etcd"
			go mod init cluster-bins.invalid/etcd >/dev/null 2>&1
			go get "go.etcd.io/etcd/server/v3@$etcd_version" >&2
			go build -trimpath -ldflags "-s -w" -o "$tmp/out/etcd" go.etcd.io/etcd/server/v3
		)
		mv -f "$tmp/out/etcd" "$dest/etcd"
	fi
fi

if $need_containerd; then
	log "building ${containerd_bins[*]} $containerd_version"
	mod=github.com/containerd/containerd/v2
	mkdir -p "$tmp/containerd" "$tmp/out/containerd"
	(
		cd "$tmp/containerd"
		go mod init cluster-bins.invalid/containerd >/dev/null 2>&1
		go get "$mod/cmd/containerd@$containerd_version" >&2
		ldflags="-s -w -X $mod/version.Version=$containerd_version -X $mod/version.Package=$mod"
		export CGO_ENABLED=0
		go build -trimpath -tags "urfave_cli_no_docs no_btrfs no_devmapper no_zfs" -ldflags "$ldflags" \
			-o "$tmp/out/containerd/" "$mod/cmd/containerd" "$mod/cmd/ctr"
		go build -trimpath -tags "urfave_cli_no_docs no_grpc" -ldflags "$ldflags" \
			-o "$tmp/out/containerd/" "$mod/cmd/containerd-shim-runc-v2"
	)
	for b in "${containerd_bins[@]}"; do
		mv -f "$tmp/out/containerd/$b" "$dest/"
	done
fi

log "the cluster's binaries are in $dest"
echo "$dest"
