// Package metallb holds the MetalLB manifests that "make e2e" applies to
// its one-node cluster, so that the gateway's LoadBalancer Service gets an
// address on the node network (docs/e2e.md): Components, upstream's
// metallb-native.yaml of v0.16.2 trimmed to L2 on one node and pointed at
// the images hack/e2eimages builds, and Pool, the address pool and its L2
// advertisement. The YAML files beside this one are the source; they are
// embedded so that the e2e harness needs no path to the checkout.
package metallb

import (
	_ "embed" // the manifests
	"slices"
)

// Version is the MetalLB release the manifests and the images are of.
const Version = "v0.16.2"

// Namespace is where MetalLB runs and where its pools live.
const Namespace = "metallb-system"

var (
	//go:embed metallb.yaml
	components []byte
	//go:embed pool.yaml
	pool []byte
)

// Components is metallb.yaml: the namespace, CRDs, RBAC, controller
// Deployment and speaker DaemonSet, as a multi-document YAML stream.
func Components() []byte { return slices.Clone(components) }

// Pool is pool.yaml: the IPAddressPool 192.0.2.240-192.0.2.250 and an
// L2Advertisement on weft-e2e-lan. Apply it once Components' CRDs are
// Established.
func Pool() []byte { return slices.Clone(pool) }
