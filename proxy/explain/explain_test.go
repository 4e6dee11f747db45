package explain

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weftmesh/weft/proxy/lb"
)

// The dumps of testdata: k8s-client, k8s-api and productpage are the
// translator's golden outputs (controlplane/translate/testdata:
// capture/client-allow-any, capture/api-ports, traffic/productpage-outbound)
// as /config_dump serves them; small.json is written by hand.
func loadDump(t *testing.T, name string) *Dump {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDump(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

func TestParseDump(t *testing.T) {
	d := loadDump(t, "k8s-api")
	if len(d.Listeners) != 7 || len(d.Clusters) != 13 || len(d.Endpoints) != 6 || len(d.Routes) != 3 {
		t.Errorf("k8s-api: %d listeners, %d clusters, %d endpoints, %d routes; want 7, 13, 6, 3",
			len(d.Listeners), len(d.Clusters), len(d.Endpoints), len(d.Routes))
	}
	if got := loadDump(t, "small").BoundAddresses["outbound|later|8081"]; got != "127.0.0.1:40001" {
		t.Errorf("bound address %q, want 127.0.0.1:40001", got)
	}
	for _, tt := range []struct{ name, in, want string }{
		{"not JSON", "no configuration yet\n", "not a Weft config dump: invalid character"},
		{"empty", "{}", "not a Weft config dump: no listeners and no clusters"},
		{"unknown filter type", `{"listeners": [{"name": "x", "filterChains": [{"filters": [{"name": "f", "typedConfig": {"@type": "type.googleapis.com/no.such.Type"}}]}]}]}`,
			"not a Weft config dump: listeners[0]: "},
		{"bad field", `{"clusters": [{"name": "c", "lbPolicy": "FASTEST"}]}`, "not a Weft config dump: clusters[0]: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDump([]byte(tt.in))
			if !errors.Is(err, ErrBadDump) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one starting %q", err, tt.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	client := Proxy{Name: "client", Dump: loadDump(t, "k8s-client"), ID: "spiffe://cluster.local/ns/store/sa/client"}
	api := &Proxy{Name: "api", Dump: loadDump(t, "k8s-api"), ID: "spiffe://cluster.local/ns/store/sa/api-1", Address: netip.MustParseAddr("192.0.2.10")}
	impostor := &Proxy{Name: "impostor", Dump: api.Dump, ID: "spiffe://cluster.local/ns/store/sa/other", Address: api.Address}
	outsider := Proxy{Name: "outsider", Dump: client.Dump, ID: "spiffe://cluster.local/ns/other/sa/client"}
	productpage := Proxy{Name: "productpage", Dump: loadDump(t, "productpage"), ID: "spiffe://cluster.local/ns/store/sa/productpage"}
	small := Proxy{Name: "small", Dump: loadDump(t, "small")}
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}

	tests := []struct {
		name string
		req  Request
		from Proxy
		to   *Proxy
		// want are "key=value" facts of the report (see facts).
		want []string
	}{
		{"service name, through capture, to the pod", Request{URL: "http://api.store/"}, client, api, []string{
			"listener=outbound|api.store|80", "via=virtualOutbound", "destination=198.18.10.1:80", "protocol=http",
			"route=routes[0]", "clusters=outbound|80||api.store.svc.cluster.local", "picked=192.0.2.10:8080",
			"dst.listener=virtualInbound", "dst.chain=inbound|8080|mtls", "dst.port=8080", "dst.transport=mtls",
			"authz=allowed", "policy=store/api-from-store/rules[0]", "forwarded=true", "summary~forwarded to 192.0.2.10:8080 (inbound|8080)",
		}},
		{"source of another namespace", Request{URL: "http://api.store/"}, outsider, api, []string{
			"dst.chain=inbound|8080|mtls", "authz=not_allowed", "status=403", "summary~403 RBAC: denied: no ALLOW policy matches",
		}},
		{"service without namespace", Request{URL: "http://api/", Namespace: "store"}, client, nil, []string{
			"listener=outbound|api.store|80", "clusters=outbound|80||api.store.svc.cluster.local", "forwarded=true",
		}},
		{"ClusterIP of a TCP port", Request{URL: "http://198.18.10.1:9000/x"}, client, api, []string{
			"listener=outbound|api.store|9000", "via=virtualOutbound", "protocol=tcp",
			"clusters=outbound|9000||api.store.svc.cluster.local", "dst.chain=inbound|9000", "dst.transport=mtls",
			"authz=not_allowed", "summary~the connection is closed: RBAC: denied: no ALLOW policy matches",
		}},
		{"sniffed plaintext port", Request{URL: "http://api.store:7000/"}, client, api, []string{
			"chain=filter_chains[0]", "protocol=http", "dst.chain=inbound|7000|http", "dst.transport=plaintext",
			"authz=not_allowed", "status=403", "summary~403 RBAC: denied: no ALLOW policy matches",
		}},
		{"unknown address: passthrough", Request{URL: "http://203.0.113.9/"}, client, api, []string{
			"listener=virtualOutbound", "via=", "clusters=PassthroughCluster", "summary~proxy api serves none of these endpoints",
		}},
		{"server identity not accepted", Request{URL: "http://api.store/"}, client, impostor, []string{
			"status=503", "summary~the source refuses the server's identity spiffe://cluster.local/ns/store/sa/other",
		}},
		// virtualOutbound's pod-ip chains: a meshed pod dialled by its IP
		// is reached over mTLS, checking the pod's identity; another
		// address on that port takes the port's fallback chain.
		{"pod IP: mTLS to the original destination", Request{URL: "http://192.0.2.10:8080/"}, client, api, []string{
			"listener=virtualOutbound", "via=", "destination=192.0.2.10:8080",
			"chain=pod-ip|8080|outbound|pod||spiffe://cluster.local/ns/store/sa/api-1", "protocol=tcp",
			"clusters=outbound|pod||spiffe://cluster.local/ns/store/sa/api-1", "mtls=true", "serverIDs=spiffe://cluster.local/ns/store/sa/api-1",
			"pick=the connection's original destination, over mTLS",
			"dst.listener=virtualInbound", "dst.chain=inbound|8080|mtls", "dst.port=8080", "dst.transport=mtls",
			"authz=allowed", "policy=store/api-from-store/rules[0]", "forwarded=true", "summary~forwarded to 192.0.2.10:8080 (inbound|8080)",
		}},
		{"pod IP, source of another namespace", Request{URL: "http://192.0.2.10:8080/"}, outsider, api, []string{
			"clusters=outbound|pod||spiffe://cluster.local/ns/store/sa/api-1", "dst.chain=inbound|8080|mtls", "dst.transport=mtls",
			"authz=not_allowed", "status=403", "summary~403 RBAC: denied: no ALLOW policy matches",
		}},
		{"pod IP, server identity not accepted", Request{URL: "http://192.0.2.10:8080/"}, client, impostor, []string{
			"clusters=outbound|pod||spiffe://cluster.local/ns/store/sa/api-1", "dst.chain=inbound|8080|mtls",
			"summary~the connection is closed: the source refuses the server's identity spiffe://cluster.local/ns/store/sa/other",
		}},
		{"pod IP of a TCP port", Request{URL: "http://192.0.2.10:9000/"}, client, api, []string{
			"chain=pod-ip|9000|outbound|pod||spiffe://cluster.local/ns/store/sa/api-1", "mtls=true",
			"dst.chain=inbound|9000", "dst.transport=mtls", "authz=not_allowed", "summary~the connection is closed: RBAC",
		}},
		{"unknown address on a pod's port: the port's fallback", Request{URL: "http://203.0.113.9:8080/"}, client, api, []string{
			"listener=virtualOutbound", "chain=pod-ip|8080|PassthroughCluster", "protocol=tcp",
			"clusters=PassthroughCluster", "mtls=false", "serverIDs=", "pick=the connection's original destination, in plaintext",
			"forwarded=true", "summary~proxy api serves none of these endpoints",
		}},
		{"pod IP of a plaintext port: passthrough", Request{URL: "http://192.0.2.10:7000/"}, client, api, []string{
			"listener=virtualOutbound", "chain=filter_chains[8]", "clusters=PassthroughCluster", "mtls=false",
			"dst.chain=inbound|7000|http", "dst.transport=plaintext", "authz=not_allowed", "status=403",
		}},
		{"weighted clusters", Request{URL: "http://127.0.0.1:8080/"}, productpage, nil, []string{
			"listener=outbound|reviews.store|80", "route=HTTPRoute/store/reviews-split/rules[4]/matches[0]",
			"clusters=outbound|80||reviews-v1.store.svc.cluster.local=90/100,outbound|80||reviews-v2.store.svc.cluster.local=10/100",
		}},
		{"method and path route", Request{Method: "post", URL: "http://127.0.0.1:8080/reviews/admin"}, productpage, nil, []string{
			"route=HTTPRoute/store/reviews-split/rules[1]/matches[0]", "clusters=outbound|80||reviews-v1.store.svc.cluster.local",
		}},
		{"header route with a regular expression", Request{URL: "http://127.0.0.1:8080/", Header: hdr("X-User", "u42")}, productpage, nil, []string{
			"route=HTTPRoute/store/reviews-split/rules[8]/matches[0]", "clusters=outbound|80||reviews-v1.store.svc.cluster.local",
		}},
		{"redirect", Request{URL: "http://127.0.0.1:8080/old/page"}, productpage, nil, []string{
			"route=HTTPRoute/store/reviews-split/rules[3]/matches[0]", "status=301", "summary~301 redirect to https://reviews.example.com/new/page",
		}},
		{"direct response", Request{URL: "http://127.0.0.1:8080/missing"}, productpage, nil, []string{
			"route=HTTPRoute/store/reviews-split/rules[7]/matches[0]", "status=500", "forwarded=false",
		}},
		{"ring hash without the hashed header", Request{URL: "http://127.0.0.1:8082/"}, productpage, nil, []string{
			"clusters=outbound|80||ratings.store.svc.cluster.local", "picked=", "pick~one of 2, at random (RING_HASH without a hash",
		}},
		{"healthy endpoints only, weighted", Request{URL: "http://127.0.0.1:8080/only", Header: hdr("Host", "shop.example")}, small, nil, []string{
			"route=routes[0]", "endpoints=192.0.2.1:80*1,192.0.2.3:80*3", "pick~one of 2, at random (MAGLEV",
		}},
		{"no route for the path", Request{URL: "http://127.0.0.1:8080/other", Header: hdr("Host", "shop.example")}, small, nil, []string{
			"status=404", `summary~404 NR: no route of "inline" matches GET /other (authority "shop.example")`,
		}},
		{"no virtual host for the authority", Request{URL: "http://127.0.0.1:8080/only"}, small, nil, []string{
			"status=404", `summary~404 NR: no route of "inline" matches GET /only (authority "127.0.0.1:8080")`,
		}},
		{"route configuration not received; bound port", Request{URL: "http://127.0.0.1:40001/"}, small, nil, []string{
			"listener=outbound|later|8081", "status=503", `summary~503 NR: route configuration "not-yet" has not arrived`,
		}},
		{"missing cluster", Request{URL: "http://127.0.0.1:8082/"}, small, nil, []string{
			"protocol=tcp", "clusters=gone", "summary~no such cluster",
		}},
		{"path normalized before routing", Request{URL: "http://127.0.0.1:8080/x/../only", Header: hdr("Host", "shop.example")}, small, nil, []string{
			"path=/only", "route=routes[0]",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Explain(tt.req, tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			got := facts(rep)
			for _, w := range tt.want {
				i := strings.IndexAny(w, "=~")
				k, v := w[:i], w[i+1:]
				if _, known := got[k]; !known {
					t.Fatalf("unknown fact %q", k)
				}
				if w[i] == '~' {
					if !strings.Contains(got[k], v) {
						t.Errorf("%s = %q, want it to contain %q", k, got[k], v)
					}
				} else if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// facts flattens a report into the keys TestExplain checks.
func facts(rep *Report) map[string]string {
	s := rep.Source
	f := map[string]string{
		"listener": s.Listener, "via": s.Via, "chain": s.Chain, "protocol": s.Protocol, "route": s.Route,
		"destination": rep.Request.Destination, "path": rep.Request.Path,
		"picked": "", "pick": "", "mtls": "", "serverIDs": "", "authz": "", "policy": "", "dst.listener": "", "dst.chain": "", "dst.port": "", "dst.transport": "",
		"status": fmt.Sprint(rep.Outcome.Status), "forwarded": fmt.Sprint(rep.Outcome.Forwarded), "summary": rep.Outcome.Summary,
	}
	var cs, eps []string
	for _, c := range s.Clusters {
		n := c.Name
		if c.Weight > 0 {
			n += fmt.Sprintf("=%d/%d", c.Weight, c.TotalWeight)
		}
		cs = append(cs, n)
		for _, e := range c.Endpoints {
			eps = append(eps, fmt.Sprintf("%s*%d", e.Address, e.Weight))
		}
		f["picked"], f["pick"] = c.Picked, c.Pick
		f["mtls"], f["serverIDs"] = fmt.Sprint(c.MTLS), strings.Join(c.ServerIDs, ",")
	}
	f["clusters"], f["endpoints"] = strings.Join(cs, ","), strings.Join(eps, ",")
	if d := rep.Destination; d != nil {
		f["dst.listener"], f["dst.chain"], f["dst.port"], f["dst.transport"] = d.Listener, d.Chain, fmt.Sprint(d.Port), d.Transport
		if d.Authz != nil {
			f["authz"], f["policy"] = d.Authz.Reason, d.Authz.Policy
		}
	}
	return f
}

// TestExplainHashedPick: with the route's hash header, a RING_HASH
// cluster's endpoint is the one package lb picks for that hash, the
// same for the same value, and not the same endpoint for every value.
func TestExplainHashedPick(t *testing.T) {
	pp := Proxy{Name: "productpage", Dump: loadDump(t, "productpage")}
	picks := map[string]bool{}
	for i := range 20 {
		user := fmt.Sprintf("user-%d", i)
		var got [2]string
		for j := range got {
			rep, err := Explain(Request{URL: "http://127.0.0.1:8082/", Header: http.Header{"X-User": {user}}}, pp, nil)
			if err != nil {
				t.Fatal(err)
			}
			got[j] = rep.Source.Clusters[0].Picked
		}
		if got[0] == "" || got[0] != got[1] {
			t.Fatalf("x-user %s: picked %q then %q, want one endpoint, twice", user, got[0], got[1])
		}
		picker, err := lb.New(lb.RingHash, []lb.Endpoint{{Address: "192.0.2.21:9080"}, {Address: "192.0.2.22:9080"}}, lb.Config{})
		if err != nil {
			t.Fatal(err)
		}
		want, done, _ := picker.Pick(lb.PickContext{Hash: lb.Hash(user), HasHash: true})
		done()
		if got[0] != want.Address {
			t.Errorf("x-user %s: explain picked %s, the ring picks %s", user, got[0], want.Address)
		}
		picks[got[0]] = true
	}
	if len(picks) != 2 {
		t.Errorf("20 users all went to %v", picks)
	}
}

func TestExplainErrors(t *testing.T) {
	small := Proxy{Name: "small", Dump: loadDump(t, "small")}
	client := Proxy{Name: "client", Dump: loadDump(t, "k8s-client")}
	for _, tt := range []struct {
		name string
		req  Request
		from Proxy
		is   error
		want string
	}{
		{"no listener for the address", Request{URL: "http://127.0.0.1:9999/"}, small, ErrNoListener,
			"no listener for 127.0.0.1:9999 (listeners: outbound|shop|8080 on 127.0.0.1:8080; outbound|later|8081 on 127.0.0.1:40001; outbound|gone|8082 on 127.0.0.1:8082)"},
		{"no listener for the service", Request{URL: "http://nosuch.store/"}, client, ErrNoListener,
			`no listener for service "nosuch.store" port 80 (listeners: outbound|api.store|7000 on 198.18.10.1:7000, [2001:db8::a:1]:7000 (virtual);`},
		{"not http", Request{URL: "https://api.store/"}, client, ErrBadRequest, `URL "https://api.store/": want http://host[:port]/path`},
		{"bad destination", Request{URL: "http://api.store/", Destination: "api:80"}, client, ErrBadRequest, `destination "api:80": want ip:port`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Explain(tt.req, tt.from, nil)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %v containing %q", err, tt.is, tt.want)
			}
		})
	}
}
