package gateway

import (
	"crypto/tls"
	"fmt"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
)

// Route kinds, as listeners support them and RouteKey names them.
const (
	KindHTTPRoute = "HTTPRoute"
	KindGRPCRoute = "GRPCRoute"
	KindTLSRoute  = "TLSRoute"
	KindTCPRoute  = "TCPRoute"
)

// reservedPorts are the gateway proxy's own ports (docs/gateway.md): a
// listener cannot take them.
var reservedPorts = map[gwv1.PortNumber]string{
	15000: "the proxy's admin port",
	15020: "the proxy's status port (readiness, metrics)",
}

// listenerState is what resolveListeners decides for one listener before
// routes attach.
type listenerState struct {
	accepted     bool
	acceptReason gwv1.ListenerConditionReason
	acceptMsg    string

	conflictReason gwv1.ListenerConditionReason // "" when none
	conflictMsg    string

	kinds        []gwv1.RouteGroupKind
	invalidKinds []string

	// refReason is the ResolvedRefs reason of certificate references
	// ("" when they resolve).
	refReason gwv1.ListenerConditionReason
	refMsgs   []string
	certs     []*model.TLSSecret
}

// TLSMode is the listener's TLS mode: Terminate unless it says
// Passthrough ("" for a listener without tls).
func TLSMode(l *gwv1.Listener) gwv1.TLSModeType {
	if l.TLS == nil {
		return ""
	}
	if l.TLS.Mode != nil && *l.TLS.Mode == gwv1.TLSModePassthrough {
		return gwv1.TLSModePassthrough
	}
	return gwv1.TLSModeTerminate
}

// terminates reports whether the gateway ends TLS for l: HTTPS, or TLS in
// mode Terminate. Such listeners need certificates.
func terminates(l *gwv1.Listener) bool {
	return l.Protocol == gwv1.HTTPSProtocolType || l.Protocol == gwv1.TLSProtocolType && TLSMode(l) == gwv1.TLSModeTerminate
}

// acceptListener checks the listener on its own: a protocol the proxy
// serves, a port it may take, TLS settings that fit the protocol.
func acceptListener(l *gwv1.Listener) (bool, gwv1.ListenerConditionReason, string) {
	switch l.Protocol {
	case gwv1.HTTPProtocolType, gwv1.HTTPSProtocolType, gwv1.TLSProtocolType, gwv1.TCPProtocolType:
	default:
		return false, gwv1.ListenerReasonUnsupportedProtocol,
			fmt.Sprintf("protocol %s is not supported (HTTP, HTTPS, TLS and TCP are)", l.Protocol)
	}
	if what, ok := reservedPorts[l.Port]; ok {
		return false, gwv1.ListenerReasonPortUnavailable, fmt.Sprintf("port %d is %s", l.Port, what)
	}
	if l.Port < 1 || l.Port > 65535 {
		return false, gwv1.ListenerReasonPortUnavailable, fmt.Sprintf("port %d is not within 1-65535", l.Port)
	}
	switch l.Protocol {
	case gwv1.HTTPProtocolType, gwv1.TCPProtocolType:
		if l.TLS != nil {
			return false, gwv1.ListenerReasonUnsupportedValue, fmt.Sprintf("tls must not be set on a %s listener", l.Protocol)
		}
	case gwv1.HTTPSProtocolType:
		if l.TLS == nil {
			return false, gwv1.ListenerReasonUnsupportedValue, "an HTTPS listener needs tls with certificateRefs"
		}
		if TLSMode(l) == gwv1.TLSModePassthrough {
			return false, gwv1.ListenerReasonUnsupportedValue, "an HTTPS listener terminates TLS: use protocol TLS for mode Passthrough"
		}
	case gwv1.TLSProtocolType:
		if l.TLS == nil {
			return false, gwv1.ListenerReasonUnsupportedValue, "a TLS listener needs tls (mode Passthrough, or Terminate with certificateRefs)"
		}
	}
	return true, gwv1.ListenerReasonAccepted, "listener accepted"
}

// defaultKinds are the route kinds a listener of l's protocol takes.
func defaultKinds(l *gwv1.Listener) []string {
	switch {
	case l.Protocol == gwv1.HTTPProtocolType || l.Protocol == gwv1.HTTPSProtocolType:
		return []string{KindHTTPRoute, KindGRPCRoute}
	case l.Protocol == gwv1.TLSProtocolType && TLSMode(l) == gwv1.TLSModePassthrough:
		return []string{KindTLSRoute}
	case l.Protocol == gwv1.TLSProtocolType || l.Protocol == gwv1.TCPProtocolType:
		return []string{KindTCPRoute}
	}
	return nil
}

// supportedKinds are the kinds of allowedRoutes.kinds the protocol takes
// (all it takes when the listener names none), and those it does not.
func supportedKinds(l *gwv1.Listener) (kinds []gwv1.RouteGroupKind, invalid []string) {
	defaults := defaultKinds(l)
	group := gwv1.Group(groupGateway)
	if l.AllowedRoutes == nil || len(l.AllowedRoutes.Kinds) == 0 {
		for _, k := range defaults {
			kinds = append(kinds, gwv1.RouteGroupKind{Group: &group, Kind: gwv1.Kind(k)})
		}
		return kinds, nil
	}
	for _, k := range l.AllowedRoutes.Kinds {
		g := groupGateway
		if k.Group != nil {
			g = string(*k.Group)
		}
		if g != groupGateway || !contains(defaults, string(k.Kind)) {
			invalid = append(invalid, fmt.Sprintf("%s/%s", g, k.Kind))
			continue
		}
		if !containsKind(kinds, string(k.Kind)) {
			kinds = append(kinds, gwv1.RouteGroupKind{Group: &group, Kind: k.Kind})
		}
	}
	return kinds, invalid
}

func containsKind(kinds []gwv1.RouteGroupKind, kind string) bool {
	for _, k := range kinds {
		if string(k.Kind) == kind {
			return true
		}
	}
	return false
}

// certificates resolves a terminating listener's certificateRefs: the
// Secrets it may serve, and the reason and messages of those it may not
// (RefNotPermitted wins over InvalidCertificateRef, as Gateway API asks).
func certificates(m *model.Mesh, gw *gwv1.Gateway, l *gwv1.Listener, s *listenerState) {
	if len(l.TLS.CertificateRefs) == 0 {
		s.refReason = gwv1.ListenerReasonInvalidCertificateRef
		s.refMsgs = append(s.refMsgs, "no certificateRefs: a listener that terminates TLS needs a certificate")
		return
	}
	notPermitted := false
	for i, ref := range l.TLS.CertificateRefs {
		group, kind := groupCore, kindSecret
		if ref.Group != nil {
			group = normalGroup(string(*ref.Group))
		}
		if ref.Kind != nil {
			kind = string(*ref.Kind)
		}
		key := model.NamespacedName{Namespace: gw.Namespace, Name: string(ref.Name)}
		if ref.Namespace != nil {
			key.Namespace = string(*ref.Namespace)
		}
		what := fmt.Sprintf("certificateRefs[%d] %s", i, key)
		if group != groupCore || kind != kindSecret {
			s.refMsgs = append(s.refMsgs, fmt.Sprintf("%s: kind %s in group %q is not a Secret", what, kind, group))
			continue
		}
		if !allowed(m, reference{
			fromGroup: groupGateway, fromKind: kindGateway, fromNS: gw.Namespace,
			toGroup: groupCore, toKind: kindSecret, to: key,
		}) {
			notPermitted = true
			s.refMsgs = append(s.refMsgs, fmt.Sprintf("%s: no ReferenceGrant in namespace %s allows Gateways of %s to use it",
				what, key.Namespace, gw.Namespace))
			continue
		}
		sec := m.Ingress.Secret(key)
		if sec == nil {
			s.refMsgs = append(s.refMsgs, what+": no such kubernetes.io/tls Secret")
			continue
		}
		if _, err := tls.X509KeyPair(sec.Cert, sec.PrivateKey); err != nil {
			s.refMsgs = append(s.refMsgs, fmt.Sprintf("%s: tls.crt and tls.key are not a valid certificate and key: %v", what, err))
			continue
		}
		s.certs = append(s.certs, sec)
	}
	switch {
	case notPermitted:
		s.refReason = gwv1.ListenerReasonRefNotPermitted
	case len(s.refMsgs) > 0:
		s.refReason = gwv1.ListenerReasonInvalidCertificateRef
	}
}

// protocolClass groups the protocols that can share a port: HTTP
// listeners by Host, HTTPS and TLS listeners by SNI; a TCP listener has a
// port to itself.
func protocolClass(p gwv1.ProtocolType) string {
	switch p {
	case gwv1.HTTPSProtocolType, gwv1.TLSProtocolType:
		return "TLS"
	default:
		return string(p)
	}
}

// conflicts marks the accepted listeners that cannot share their port
// with an earlier one (in spec order: the first listener keeps what it
// has, so that adding a listener never breaks one that works): another
// protocol class (ProtocolConflict), a second TCP listener
// (ProtocolConflict), or the same hostname (HostnameConflict).
func conflicts(ls []gwv1.Listener, st []listenerState) {
	type first struct {
		idx   int
		class string
		hosts map[string]int
	}
	ports := map[gwv1.PortNumber]*first{}
	for i := range ls {
		if !st[i].accepted {
			continue
		}
		l := &ls[i]
		class := protocolClass(l.Protocol)
		host := ""
		if l.Hostname != nil {
			host = strings.ToLower(string(*l.Hostname))
		}
		f := ports[l.Port]
		if f == nil {
			ports[l.Port] = &first{idx: i, class: class, hosts: map[string]int{host: i}}
			continue
		}
		owner := &ls[f.idx]
		switch {
		case f.class != class:
			st[i].conflictReason = gwv1.ListenerReasonProtocolConflict
			st[i].conflictMsg = fmt.Sprintf("port %d is taken by listener %s (%s), which %s cannot share it with",
				l.Port, owner.Name, owner.Protocol, l.Protocol)
		case class == string(gwv1.TCPProtocolType):
			st[i].conflictReason = gwv1.ListenerReasonProtocolConflict
			st[i].conflictMsg = fmt.Sprintf("port %d is taken by TCP listener %s: TCP listeners cannot share a port", l.Port, owner.Name)
		default:
			if j, dup := f.hosts[host]; dup {
				st[i].conflictReason = gwv1.ListenerReasonHostnameConflict
				name := "hostname " + host
				if host == "" {
					name = "no hostname"
				}
				st[i].conflictMsg = fmt.Sprintf("listener %s already has port %d and %s", ls[j].Name, l.Port, name)
				continue
			}
			f.hosts[host] = i
		}
	}
}
