package xdsclient

import (
	"context"
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// secretRecorder is a recorder that takes secrets too.
type secretRecorder struct {
	*recorder
	secrets chan []string
}

func (r *secretRecorder) OnSecrets(_ context.Context, secrets []*tlsv3.Secret) error {
	var names []string
	for _, s := range secrets {
		if s.GetTlsCertificate() == nil { // a bad secret
			return &secretError{name: s.GetName()}
		}
		names = append(names, s.GetName())
	}
	r.secrets <- names
	return nil
}

type secretError struct{ name string }

func (e *secretError) Error() string { return `secret "` + e.name + `": tls_certificate: missing` }

// tlsListener is a gateway listener whose chains serve the named
// certificate secrets, one chain each.
func tlsListener(t *testing.T, name string, port uint32, secrets ...string) *listenerv3.Listener {
	t.Helper()
	l := testListener(name, port)
	for _, s := range secrets {
		l.FilterChains = append(l.FilterChains, &listenerv3.FilterChain{
			Filters: []*listenerv3.Filter{filter(t, "envoy.filters.network.tcp_proxy", &tcpproxyv3.TcpProxy{StatPrefix: "x"})},
			TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{
				TypedConfig: mustAny(t, &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
					TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: s}},
				}}),
			}},
		})
	}
	return l
}

func tlsSecret(name string) *tlsv3.Secret {
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{}}}
}

func TestSdsNames(t *testing.T) {
	var set []named
	for _, l := range []*listenerv3.Listener{
		tlsListener(t, "a", 1, "kubernetes://ns/b", "default"),
		tlsListener(t, "b", 2, "kubernetes://ns/a", "kubernetes://ns/b", "ROOTCA"),
		testListener("plain", 3),
	} {
		set = append(set, named{name: l.GetName(), msg: l})
	}
	if got, want := sdsNames(set), []string{"kubernetes://ns/a", "kubernetes://ns/b"}; !slices.Equal(got, want) {
		t.Errorf("sdsNames = %v, want %v (sorted, unique, without the proxy's own default and ROOTCA)", got, want)
	}
}

func TestSecretSubscriptionFollowsListeners(t *testing.T) {
	forEachProtocol(t, testSecretSubscriptionFollowsListeners)
}

func testSecretSubscriptionFollowsListeners(t *testing.T, p Protocol) {
	verifyNoLeaks(t)
	rec := &secretRecorder{recorder: newRecorder(), secrets: make(chan []string, 10)}
	_, s := startScriptedClient(t, p, rec)

	s.respond(t, ClusterType, "c1", "1", mustAny(t, staticCluster("c")))
	s.next(t) // ACK
	s.respond(t, ListenerType, "l1", "2", mustAny(t, tlsListener(t, "gw", 443, "kubernetes://ns/b", "kubernetes://ns/a", "default")))
	s.next(t) // ACK
	wantSubscription(t, s.next(t), SecretType, "kubernetes://ns/a", "kubernetes://ns/b")
	s.respond(t, SecretType, "s1", "3", mustAny(t, tlsSecret("kubernetes://ns/a")), mustAny(t, tlsSecret("kubernetes://ns/b")))
	wantAck(t, s.next(t), SecretType, "3", "s1")
	if got := <-rec.secrets; !slices.Equal(got, []string{"kubernetes://ns/a", "kubernetes://ns/b"}) {
		t.Errorf("handler got secrets %v", got)
	}

	// A bad secret is NACKed with the handler's message, naming it.
	s.respond(t, SecretType, "s2", "4", mustAny(t, tlsSecret("kubernetes://ns/a")), mustAny(t, &tlsv3.Secret{Name: "kubernetes://ns/b"}))
	wantNack(t, s.next(t), SecretType, "4", "s1", `secret "kubernetes://ns/b"`)

	// The listener stops naming b: the subscription narrows and b is
	// dropped at once.
	s.respond(t, ListenerType, "l2", "5", mustAny(t, tlsListener(t, "gw", 443, "kubernetes://ns/a")))
	s.next(t) // ACK
	if got := <-rec.secrets; !slices.Equal(got, []string{"kubernetes://ns/a"}) {
		t.Errorf("handler got secrets %v after b was no longer named, want [kubernetes://ns/a]", got)
	}
	wantSubscription(t, s.next(t), SecretType, "kubernetes://ns/a")
	// Listeners that name no secret unsubscribe.
	if p == ProtocolDelta {
		s.respondDelta(t, ListenerType, "l3", "6", []string{"gw"}, mustAny(t, testListener("plain", 80)))
	} else {
		s.respond(t, ListenerType, "l3", "6", mustAny(t, testListener("plain", 80)))
	}
	s.next(t) // ACK
	wantSubscription(t, s.next(t), SecretType)
}

func TestSidecarNeverSubscribesToSecrets(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, p Protocol) {
		verifyNoLeaks(t)
		_, s := startScriptedClient(t, p, newRecorder()) // no OnSecrets
		s.respond(t, ClusterType, "c1", "1", mustAny(t, staticCluster("c")))
		s.next(t) // ACK
		s.respond(t, ListenerType, "l1", "2", mustAny(t, tlsListener(t, "inbound|8080", 8080, "default", "kubernetes://ns/a")))
		s.next(t) // ACK
		s.quiet(t, 100*time.Millisecond)
	})
}
