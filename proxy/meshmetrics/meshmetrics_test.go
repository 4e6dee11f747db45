package meshmetrics

import (
	"net/http"
	"testing"
)

func TestWorkloadOfPod(t *testing.T) {
	tests := []struct{ pod, want string }{
		{"web-7d4b9c8f6-x2v9q", "web"},
		{"my-api-5b8d7f9c4d-bz7mq", "my-api"},
		{"agent-x2v9q", "agent"},
		{"db-0", "db"},
		{"db-12", "db"},
		{"backend", "backend"},
		{"web-abcde", "web-abcde"}, // 'a' and 'e' are never generated
		{"v-01", "v-01"},
		{"-x2v9q", "-x2v9q"},
	}
	for _, tt := range tests {
		t.Run(tt.pod, func(t *testing.T) {
			if got := WorkloadOfPod(tt.pod); got != tt.want {
				t.Errorf("WorkloadOfPod(%q) = %q, want %q", tt.pod, got, tt.want)
			}
		})
	}
}

func TestNamespaceOf(t *testing.T) {
	tests := []struct{ id, want string }{
		{"spiffe://cluster.local/ns/shop/sa/web", "shop"},
		{"spiffe://cluster.local/ns//sa/web", ""},
		{"spiffe://cluster.local/ns/shop", ""},
		{"spiffe://cluster.local/ns/shop/sa/web/extra", ""},
		{"https://cluster.local/ns/shop/sa/web", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if got := NamespaceOf(tt.id); got != tt.want {
				t.Errorf("NamespaceOf(%q) = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
}

func TestTakePeer(t *testing.T) {
	const principal = "spiffe://cluster.local/ns/shop/sa/web"
	tests := []struct {
		name                string
		principal           string
		workload, namespace string
		want                Peer
	}{
		{"claims match the certificate", principal, "web", "shop", Peer{"web", "shop", principal}},
		{"plaintext peer: claims ignored", "", "web", "shop", Peer{}},
		{"another namespace claimed", principal, "web", "bank", Peer{"", "shop", principal}},
		{"no claims", principal, "", "", Peer{"", "shop", principal}},
		{"label injection refused", principal, `web",x="y`, "shop", Peer{"", "shop", principal}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.workload != "" {
				h.Set(HeaderSourceWorkload, tt.workload)
			}
			if tt.namespace != "" {
				h.Set(HeaderSourceNamespace, tt.namespace)
			}
			got := TakePeer(h, tt.principal, HeaderSourceWorkload, HeaderSourceNamespace)
			if got != tt.want {
				t.Errorf("TakePeer = %+v, want %+v", got, tt.want)
			}
			if len(h) != 0 {
				t.Errorf("headers left for the app: %v", h)
			}
		})
	}
}

func TestServiceOf(t *testing.T) {
	tests := []struct{ cluster, want string }{
		{"outbound|8080||backend.shop.svc.cluster.local", "backend.shop.svc.cluster.local"},
		{"inbound|8080", ""},
		{"outbound|8080", ""},
		{"PassthroughCluster", ""},
	}
	for _, tt := range tests {
		t.Run(tt.cluster, func(t *testing.T) {
			if got := ServiceOf(tt.cluster); got != tt.want {
				t.Errorf("ServiceOf(%q) = %q, want %q", tt.cluster, got, tt.want)
			}
		})
	}
}
