#!/usr/bin/env bash
# Generates the Go code of Weft's own gRPC APIs (api/**/*.proto).
#
# protoc comes from Debian's protobuf-compiler (installed when missing, which
# needs root); the Go plugins are pinned here and installed into bin/tools so
# that `make generate` and `make verify` produce the same bytes everywhere.
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${root}/bin/tools"

if ! command -v protoc >/dev/null 2>&1; then
	echo "protoc.sh: installing protobuf-compiler from Debian" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >/dev/null
fi
# Debian ships the well-known types (google/protobuf/*.proto) with protoc.
include=/usr/include
if [[ ! -f "${include}/google/protobuf/duration.proto" ]]; then
	echo "protoc.sh: ${include}/google/protobuf/duration.proto is missing; install protobuf-compiler (or libprotobuf-dev)" >&2
	exit 1
fi

# install_tool BINARY PACKAGE VERSION installs PACKAGE@VERSION into bin/tools
# unless the binary there already reports that version.
install_tool() {
	local bin="$1" pkg="$2" version="$3"
	local stamp="${tools}/.${bin}.version"
	if [[ -x "${tools}/${bin}" && -f "${stamp}" && "$(cat "${stamp}")" == "${version}" ]]; then
		return
	fi
	mkdir -p "${tools}"
	GOBIN="${tools}" go install "${pkg}@${version}"
	echo "${version}" >"${stamp}"
}

install_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "${PROTOC_GEN_GO_VERSION}"
install_tool protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "${PROTOC_GEN_GO_GRPC_VERSION}"

cd "${root}"
mapfile -t protos < <(find api -name '*.proto' | LC_ALL=C sort)
if [[ ${#protos[@]} -eq 0 ]]; then
	echo "protoc.sh: no .proto files under api/" >&2
	exit 1
fi

PATH="${tools}:${PATH}" protoc \
	-I . -I "${include}" \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	"${protos[@]}"
