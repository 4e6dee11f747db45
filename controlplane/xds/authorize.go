package xds

import (
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/weftmesh/weft/controlplane/model"
)

// authorize lets a stream ask for a node's configuration only when the
// node is a workload of the current mesh and the stream's client
// certificate carries that workload's identity.
func (s *Server) authorize(node string, peer spiffeid.ID) error {
	key, err := model.ParseNodeID(node)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	m := s.mesh.Load()
	if m == nil {
		return status.Error(codes.Unavailable, "control plane has no configuration yet")
	}
	w := m.Workload(key)
	if w == nil {
		return status.Errorf(codes.NotFound, "no workload %s is registered", key)
	}
	want, err := m.Identity(w)
	if err != nil {
		return status.Errorf(codes.Internal, "identity of workload %s: %v", key, err)
	}
	if peer != want {
		return status.Errorf(codes.PermissionDenied, "node %s belongs to %s; the client certificate is %s", node, want, peer)
	}
	return nil
}
