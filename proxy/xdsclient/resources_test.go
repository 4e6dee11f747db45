package xdsclient

import (
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

func namedClusters(cs ...*clusterv3.Cluster) []named {
	out := make([]named, len(cs))
	for i, c := range cs {
		out[i] = named{name: c.GetName(), msg: c}
	}
	return out
}

func TestEdsNames(t *testing.T) {
	tests := []struct {
		name     string
		clusters []named
		want     []string
	}{
		{"none", nil, nil},
		{"static only", namedClusters(staticCluster("s")), nil},
		{"cluster name or service name, sorted", namedClusters(edsCluster("z", ""), edsCluster("b", "svc-a"), staticCluster("s")), []string{"svc-a", "z"}},
		{"shared service name once", namedClusters(edsCluster("a", "svc"), edsCluster("b", "svc")), []string{"svc"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := edsNames(tc.clusters); !slices.Equal(got, tc.want) {
				t.Errorf("edsNames = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMergeEndpoints(t *testing.T) {
	cla := func(name, addr string) named { return named{name: name, msg: assignment(name, addr)} }
	tests := []struct {
		name       string
		accepted   []named
		update     []named
		subscribed []string
		want       []named
	}{
		{"first response", nil, []named{cla("a", "127.0.0.1")}, []string{"a"}, []named{cla("a", "127.0.0.1")}},
		{"partial response keeps the rest", []named{cla("a", "127.0.0.1"), cla("b", "127.0.0.2")}, []named{cla("b", "127.0.0.3")}, []string{"a", "b"},
			[]named{cla("a", "127.0.0.1"), cla("b", "127.0.0.3")}},
		{"unsubscribed dropped", []named{cla("a", "127.0.0.1"), cla("gone", "127.0.0.2")}, []named{cla("extra", "127.0.0.4")}, []string{"a"},
			[]named{cla("a", "127.0.0.1")}},
		{"nothing subscribed", []named{cla("a", "127.0.0.1")}, nil, nil, []named{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mergeSubscribed(tc.accepted, tc.update, tc.subscribed); !sameSet(got, tc.want) {
				t.Errorf("mergeSubscribed = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestResponseDigest(t *testing.T) {
	a, _ := anypb.New(staticCluster("a"))
	b, _ := anypb.New(staticCluster("b"))
	resp := func(version, nonce string, rs ...*anypb.Any) *discoveryv3.DiscoveryResponse {
		return &discoveryv3.DiscoveryResponse{TypeUrl: ClusterType, VersionInfo: version, Nonce: nonce, Resources: rs}
	}
	base := responseDigest(resp("1", "n1", a, b))
	if responseDigest(resp("1", "n2", b, a)) != base {
		t.Error("digest depends on the nonce or the order of resources")
	}
	for name, other := range map[string]*discoveryv3.DiscoveryResponse{
		"version":   resp("2", "n1", a, b),
		"resources": resp("1", "n1", a),
		"type":      {TypeUrl: ListenerType, VersionInfo: "1", Resources: []*anypb.Any{a, b}},
	} {
		if responseDigest(other) == base {
			t.Errorf("digest ignores the %s", name)
		}
	}
}
