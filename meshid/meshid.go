// Package meshid names the SPIFFE identities of the mesh, so that the proxy,
// the control plane and the CA agree on them without importing each other.
package meshid

import "github.com/spiffe/go-spiffe/v2/spiffeid"

// SystemNamespace is where Weft's own components run.
const SystemNamespace = "weft-system"

// ControlPlaneServiceAccount is the service account of weft-controlplane.
const ControlPlaneServiceAccount = "weft-controlplane"

// Workload returns spiffe://<td>/ns/<namespace>/sa/<serviceAccount>. It
// fails when a segment is empty or holds characters SPIFFE IDs forbid.
func Workload(td spiffeid.TrustDomain, namespace, serviceAccount string) (spiffeid.ID, error) {
	return spiffeid.FromSegments(td, "ns", namespace, "sa", serviceAccount)
}

// ControlPlane returns the identity the control plane serves xDS and the CA
// with; proxies accept no other server.
func ControlPlane(td spiffeid.TrustDomain) spiffeid.ID {
	id, err := Workload(td, SystemNamespace, ControlPlaneServiceAccount)
	if err != nil {
		panic(err) // both segments are constants that are valid
	}
	return id
}

// NodeID is the xDS node ID of a workload's sidecar: "<name>.<namespace>".
func NodeID(name, namespace string) string { return name + "." + namespace }
