package dataplane

import (
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/weftmesh/weft/proxy/httpproxy"
)

// parseEdge checks the HTTP connection manager's edge settings of a
// gateway (docs/gateway.md) and returns them; nil without
// use_remote_address, as on sidecars, which take none of them.
func parseEdge(p *problems, path string, hcm *hcmv3.HttpConnectionManager) *httpproxy.Edge {
	if f := hcm.GetForwardClientCertDetails(); f != hcmv3.HttpConnectionManager_SANITIZE {
		p.Addf(field(path, "forward_client_cert_details"), "unsupported %s, want SANITIZE", f)
	}
	if g := hcm.GetGenerateRequestId(); g != nil && !g.GetValue() {
		p.Addf(field(path, "generate_request_id"), "must be true: the proxy always gives requests an ID")
	}
	if !hcm.GetUseRemoteAddress().GetValue() {
		if hcm.GetXffNumTrustedHops() != 0 {
			p.Addf(field(path, "xff_num_trusted_hops"), "needs use_remote_address")
		}
		if hcm.GetPreserveExternalRequestId() {
			p.Addf(field(path, "preserve_external_request_id"), "needs use_remote_address")
		}
		return nil
	}
	return &httpproxy.Edge{
		TrustedHops:       hcm.GetXffNumTrustedHops(),
		PreserveRequestID: hcm.GetPreserveExternalRequestId(),
	}
}
