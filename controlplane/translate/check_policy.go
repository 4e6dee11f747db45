package translate

import "github.com/weftmesh/weft/controlplane/model"

// checkPolicies reports PeerAuthentication and AuthorizationPolicy problems.
func checkPolicies(m *model.Mesh) []Problem {
	return nil // being written (issue 6)
}
