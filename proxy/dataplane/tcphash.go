package dataplane

import (
	"net"

	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/weftmesh/weft/proxy/lb"
)

// parseTCPHashPolicy validates tcp_proxy's hash_policy and reports whether
// connections hash on their source IP. Envoy takes at most one policy,
// and only source_ip is supported here.
func parseTCPHashPolicy(p *problems, path string, hps []*typev3.HashPolicy) bool {
	if len(hps) > 1 {
		p.Addf(path, "at most one hash policy is supported, got %d", len(hps))
	}
	for i, hp := range hps {
		if hp.GetSourceIp() == nil {
			p.Addf(index(path, i), "only source_ip is supported")
		}
	}
	return len(hps) > 0
}

// connPickContext is the load balancing context of a TCP connection from
// remote: its source IP's hash when the listener hashes on it.
func connPickContext(hashSourceIP bool, remote net.Addr) lb.PickContext {
	var pc lb.PickContext
	if !hashSourceIP {
		return pc
	}
	if ta, ok := remote.(*net.TCPAddr); ok {
		pc.AddHash(lb.Hash(ta.IP.String()))
	} else if host, _, err := net.SplitHostPort(remote.String()); err == nil {
		pc.AddHash(lb.Hash(host))
	}
	return pc
}
