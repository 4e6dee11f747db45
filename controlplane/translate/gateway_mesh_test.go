package translate

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/gateway"
)

// Gateway workloads of gatewayMesh.
var (
	publicGateway = model.NamespacedName{Namespace: "shop", Name: "public-weft-1"}
	edgeGateway   = model.NamespacedName{Namespace: "shop", Name: "edge-weft-1"}
	lostGateway   = model.NamespacedName{Namespace: "shop", Name: "lost-weft-1"}
)

// gatewayCert reads a test certificate and key of testdata/gateway/certs
// (self-signed, valid 2026-2126).
func gatewayCert(t testing.TB, host string) (cert, key []byte) {
	t.Helper()
	dir := filepath.Join("testdata", "gateway", "certs")
	cert, err := os.ReadFile(filepath.Join(dir, host+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	key, err = os.ReadFile(filepath.Join(dir, host+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// gatewayMesh is the mesh of the gateway cases, in namespace "shop" (and
// "pay" for a backend another namespace grants):
//
//   - Services web, api and shadow (http 8080), ledger (grpc 9090), pg
//     and pg-replica (tcp 5432), pay/billing (http 9000), one workload
//     each.
//   - Gateway public (trusted-hops 1): http on 80; https-shop and
//     https-api on 443 with one certificate each (SNI); tls-pass on 443
//     for *.db.example.com (Passthrough); tls-term on 8443 for
//     secure.example.com (Terminate); tcp on 5432.
//   - HTTPRoutes: storefront (shop.example.com: /api to api, the rest to
//     web with 10% mirrored to shadow), api (api.example.com: a 90/10
//     split with billing of pay, granted, and a request header), to-https
//     (a redirect on the http listener); GRPCRoute ledger on https-api;
//     TLSRoute pg-pass (pg.db.example.com); TCPRoute pg-tcp on tcp and
//     tls-term (80/20 between pg and pg-replica).
//   - Gateway edge (proxy-protocol, served by a Pod, on a dual-stack
//     mesh): http on 80 with storefront's twin, and https on 443 whose
//     Secret is in pay without a grant (refused: no listener on 443).
//   - Gateway workloads public-weft-1 (standalone, 192.0.2.100),
//     edge-weft-1 (a Pod) and lost-weft-1 (its Gateway is missing).
func gatewayMesh(t testing.TB) *model.Mesh {
	t.Helper()
	shopCert, shopKey := gatewayCert(t, "shop.example.com")
	apiCert, apiKey := gatewayCert(t, "api.example.com")
	secureCert, secureKey := gatewayCert(t, "secure.example.com")
	epoch := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

	svc := func(ns, name string, port model.ServicePort, ips ...string) model.Service {
		s := model.Service{Name: name, Namespace: ns, Selector: map[string]string{"app": name}, Ports: []model.ServicePort{port}}
		for _, ip := range ips {
			s.ClusterIPs = append(s.ClusterIPs, netip.MustParseAddr(ip))
		}
		return s
	}
	http := model.ServicePort{Name: "http", Port: 8080, TargetPort: 8080, AppProtocol: "http"}
	workload := func(ns, name, addr string, port uint32) model.Workload {
		return model.Workload{
			Name: name + "-1", Namespace: ns, ServiceAccount: name, Labels: map[string]string{"app": name},
			Address: netip.MustParseAddr(addr), LocalAddress: netip.MustParseAddr("127.0.0.1"),
			Ports: []model.WorkloadPort{{Port: port}},
		}
	}
	sectionRef := func(gw, section string) gwv1.ParentReference {
		p := gwv1.ParentReference{Name: gwv1.ObjectName(gw)}
		if section != "" {
			p.SectionName = ptrTo(gwv1.SectionName(section))
		}
		return p
	}
	l4 := func(ns, name string, port, weight int32) gwv1.BackendRef {
		b := gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(name), Port: ptrTo(port)}, Weight: ptrTo(weight)}
		if ns != "" {
			b.Namespace = ptrTo(gwv1.Namespace(ns))
		}
		return b
	}
	secretRef := func(ns, name string) gwv1.SecretObjectReference {
		r := gwv1.SecretObjectReference{Name: gwv1.ObjectName(name)}
		if ns != "" {
			r.Namespace = ptrTo(gwv1.Namespace(ns))
		}
		return r
	}
	storefront := func(gw string) gwv1.HTTPRoute {
		return gwv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "storefront-" + gw, CreationTimestamp: epoch},
			Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{sectionRef(gw, "")}},
				Hostnames:       []gwv1.Hostname{"shop.example.com"},
				Rules: []gwv1.HTTPRouteRule{
					{
						Matches:     []gwv1.HTTPRouteMatch{{Path: pathMatch(gwv1.PathMatchPathPrefix, "/api")}},
						BackendRefs: []gwv1.HTTPBackendRef{backendTo("api", 8080, 1)},
					},
					{
						Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestMirror, RequestMirror: &gwv1.HTTPRequestMirrorFilter{
							BackendRef: gwv1.BackendObjectReference{Name: "shadow", Port: ptrTo(gwv1.PortNumber(8080))}, Percent: ptrTo(int32(10)),
						}}},
						BackendRefs: []gwv1.HTTPBackendRef{backendTo("web", 8080, 1)},
					},
				},
			},
		}
	}
	billing := backendTo("billing", 9000, 10)
	billing.Namespace = ptrTo(gwv1.Namespace("pay"))

	m := &model.Mesh{
		TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local"),
		Services: []model.Service{
			svc("shop", "web", http, "198.18.0.10", "fd00::10"),
			svc("shop", "api", http),
			svc("shop", "shadow", http),
			svc("shop", "ledger", model.ServicePort{Name: "grpc", Port: 9090, TargetPort: 9090, AppProtocol: "grpc"}),
			svc("shop", "pg", model.ServicePort{Name: "tcp", Port: 5432, TargetPort: 5432}),
			svc("shop", "pg-replica", model.ServicePort{Name: "tcp", Port: 5432, TargetPort: 5432}),
			svc("pay", "billing", model.ServicePort{Name: "http", Port: 9000, TargetPort: 9000, AppProtocol: "http"}),
		},
		Workloads: []model.Workload{
			workload("shop", "web", "192.0.2.11", 8080),
			workload("shop", "api", "192.0.2.12", 8080),
			workload("shop", "shadow", "192.0.2.13", 8080),
			workload("shop", "ledger", "192.0.2.14", 9090),
			workload("shop", "pg", "192.0.2.15", 5432),
			workload("shop", "pg-replica", "192.0.2.16", 5432),
			workload("pay", "billing", "192.0.2.21", 9000),
			{
				Name: publicGateway.Name, Namespace: "shop", ServiceAccount: "public-weft",
				Address: netip.MustParseAddr("192.0.2.100"), Gateway: &model.NamespacedName{Namespace: "shop", Name: "public"},
			},
			{
				Name: edgeGateway.Name, Namespace: "shop", ServiceAccount: "edge-weft", Pod: true,
				Address: netip.MustParseAddr("192.0.2.101"), Gateway: &model.NamespacedName{Name: "edge"},
			},
			{
				Name: lostGateway.Name, Namespace: "shop", ServiceAccount: "lost-weft",
				Address: netip.MustParseAddr("192.0.2.102"), Gateway: &model.NamespacedName{Namespace: "shop", Name: "lost"},
			},
		},
		Policies: model.Policies{
			HTTPRoutes: []gwv1.HTTPRoute{
				storefront("public"),
				storefront("edge"),
				{
					ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api", CreationTimestamp: epoch},
					Spec: gwv1.HTTPRouteSpec{
						CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{sectionRef("public", "https-api")}},
						Hostnames:       []gwv1.Hostname{"api.example.com"},
						Rules: []gwv1.HTTPRouteRule{{
							Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: &gwv1.HTTPHeaderFilter{
								Set: []gwv1.HTTPHeader{{Name: "X-Entry", Value: "gateway"}},
							}}},
							BackendRefs: []gwv1.HTTPBackendRef{backendTo("api", 8080, 90), billing},
						}},
					},
				},
				{
					ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "to-https", CreationTimestamp: epoch},
					Spec: gwv1.HTTPRouteSpec{
						CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{sectionRef("public", "http")}},
						Hostnames:       []gwv1.Hostname{"api.example.com"},
						Rules: []gwv1.HTTPRouteRule{{
							Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestRedirect, RequestRedirect: &gwv1.HTTPRequestRedirectFilter{
								Scheme: ptrTo("https"), StatusCode: ptrTo(301),
							}}},
						}},
					},
				},
			},
			GRPCRoutes: []gwv1.GRPCRoute{{
				ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "ledger", CreationTimestamp: epoch},
				Spec: gwv1.GRPCRouteSpec{
					CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{sectionRef("public", "https-api")}},
					Hostnames:       []gwv1.Hostname{"api.example.com"},
					Rules: []gwv1.GRPCRouteRule{{
						Matches:     []gwv1.GRPCRouteMatch{{Method: &gwv1.GRPCMethodMatch{Service: ptrTo("ledger.v1.Ledger")}}},
						BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "ledger", Port: ptrTo(gwv1.PortNumber(9090))}}}},
					}},
				},
			}},
		},
		Ingress: model.Ingress{
			Gateways: []gwv1.Gateway{
				{
					ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "public", Generation: 2,
						Annotations: map[string]string{gateway.TrustedHopsAnnotation: "1"}},
					Spec: gwv1.GatewaySpec{GatewayClassName: gateway.ClassName, Listeners: []gwv1.Listener{
						{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80},
						{Name: "https-shop", Protocol: gwv1.HTTPSProtocolType, Port: 443, Hostname: ptrTo(gwv1.Hostname("shop.example.com")),
							TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{secretRef("", "shop-example-com")}}},
						{Name: "https-api", Protocol: gwv1.HTTPSProtocolType, Port: 443, Hostname: ptrTo(gwv1.Hostname("api.example.com")),
							TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{secretRef("", "api-example-com")}}},
						{Name: "tls-pass", Protocol: gwv1.TLSProtocolType, Port: 443, Hostname: ptrTo(gwv1.Hostname("*.db.example.com")),
							TLS: &gwv1.ListenerTLSConfig{Mode: ptrTo(gwv1.TLSModePassthrough)}},
						{Name: "tls-term", Protocol: gwv1.TLSProtocolType, Port: 8443, Hostname: ptrTo(gwv1.Hostname("secure.example.com")),
							TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{secretRef("", "secure-example-com")}}},
						{Name: "tcp", Protocol: gwv1.TCPProtocolType, Port: 5432},
					}},
				},
				{
					ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge",
						Annotations: map[string]string{gateway.ProxyProtocolAnnotation: "true"}},
					Spec: gwv1.GatewaySpec{GatewayClassName: gateway.ClassName, Listeners: []gwv1.Listener{
						{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80},
						{Name: "https", Protocol: gwv1.HTTPSProtocolType, Port: 443,
							TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{secretRef("pay", "pay-example-com")}}},
					}},
				},
			},
			TLSRoutes: []gwv1.TLSRoute{{
				ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "pg-pass", CreationTimestamp: epoch},
				Spec: gwv1.TLSRouteSpec{
					CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{sectionRef("public", "tls-pass")}},
					Hostnames:       []gwv1.Hostname{"pg.db.example.com"},
					Rules:           []gwv1.TLSRouteRule{{BackendRefs: []gwv1.BackendRef{l4("", "pg", 5432, 1)}}},
				},
			}},
			TCPRoutes: []gwv1.TCPRoute{{
				ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "pg-tcp", CreationTimestamp: epoch},
				Spec: gwv1.TCPRouteSpec{
					CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{sectionRef("public", "tcp"), sectionRef("public", "tls-term")}},
					Rules:           []gwv1.TCPRouteRule{{BackendRefs: []gwv1.BackendRef{l4("", "pg", 5432, 80), l4("", "pg-replica", 5432, 20)}}},
				},
			}},
			ReferenceGrants: []gwv1beta1.ReferenceGrant{{
				ObjectMeta: metav1.ObjectMeta{Namespace: "pay", Name: "shop-routes"},
				Spec: gwv1.ReferenceGrantSpec{
					From: []gwv1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: "HTTPRoute", Namespace: "shop"}},
					To:   []gwv1.ReferenceGrantTo{{Group: "", Kind: "Service"}},
				},
			}},
			Secrets: []model.TLSSecret{
				{Namespace: "shop", Name: "shop-example-com", Cert: shopCert, PrivateKey: shopKey},
				{Namespace: "shop", Name: "api-example-com", Cert: apiCert, PrivateKey: apiKey},
				{Namespace: "shop", Name: "secure-example-com", Cert: secureCert, PrivateKey: secureKey},
				{Namespace: "pay", Name: "pay-example-com", Cert: shopCert, PrivateKey: shopKey},
			},
		},
	}
	m.Sort()
	return m
}
