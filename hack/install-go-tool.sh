#!/usr/bin/env bash
# Installs one Go tool at a pinned version into a versioned path, so that
# changing the version in the Makefile installs the new one.
#   hack/install-go-tool.sh DEST PACKAGE VERSION
set -euo pipefail

dest=$1 pkg=$2 version=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

GOBIN=$tmp go install "$pkg@$version"
mkdir -p "$(dirname "$dest")"
mv "$tmp/$(basename "$pkg")" "$dest"
echo "installed $pkg@$version as $dest"
