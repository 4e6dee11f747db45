package translate

import "github.com/weftmesh/weft/controlplane/model"

// checkRoutes reports TrafficPolicy, HTTPRoute and GRPCRoute problems.
func checkRoutes(m *model.Mesh) []Problem {
	return nil // being written (issue 6)
}
