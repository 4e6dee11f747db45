package xdsclient

import (
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
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
	resp := func(version, nonce string, rs ...*anypb.Any) *response {
		r := &response{typeURL: ClusterType, version: version, nonce: nonce}
		for _, x := range rs {
			r.resources = append(r.resources, resource{body: x})
		}
		return r
	}
	base := resp("1", "n1", a, b).digest()
	if resp("1", "n2", b, a).digest() != base {
		t.Error("digest depends on the nonce or the order of resources")
	}
	withRemoved := resp("1", "n1", a, b)
	withRemoved.removed = []string{"x", "y"}
	renamed := resp("1", "n1", a, b)
	renamed.resources[0].name = "other"
	reversioned := resp("1", "n1", a, b)
	reversioned.resources[0].version = "7"
	other := resp("1", "n1", a, b)
	other.typeURL = ListenerType
	for name, r := range map[string]*response{
		"version":          resp("2", "n1", a, b),
		"resources":        resp("1", "n1", a),
		"type":             other,
		"removed":          withRemoved,
		"resource name":    renamed,
		"resource version": reversioned,
	} {
		if r.digest() == base {
			t.Errorf("digest ignores the %s", name)
		}
	}
	reordered := resp("1", "n1", a, b)
	reordered.removed = []string{"y", "x"}
	if reordered.digest() != withRemoved.digest() {
		t.Error("digest depends on the order of removed_resources")
	}
}

func TestCompose(t *testing.T) {
	res := func(name, version string) resource {
		a, _ := anypb.New(staticCluster(name))
		return resource{name: name, version: version, body: a}
	}
	delta := func(version string, removed []string, rs ...resource) *response {
		return &response{typeURL: ClusterType, version: version, nonce: version, incremental: true, resources: rs, removed: removed}
	}
	summary := func(r *response) string {
		var parts []string
		for _, x := range r.resources {
			parts = append(parts, x.name+"@"+x.version)
		}
		return r.version + " [" + strings.Join(parts, " ") + "] -" + strings.Join(r.removed, ",")
	}
	sotw := &response{typeURL: ClusterType, version: "2"}
	tests := []struct {
		name         string
		older, newer *response
		want         string
	}{
		{"nothing older", nil, delta("2", []string{"x"}, res("a", "2")), "2 [a@2] -x"},
		{"sotw supersedes", delta("1", nil, res("a", "1")), sotw, "2 [] -"},
		{"changes add up", delta("1", []string{"x"}, res("a", "1"), res("b", "1")), delta("2", []string{"y"}, res("c", "2")),
			"2 [a@1 b@1 c@2] -x,y"},
		{"newer replaces", delta("1", nil, res("a", "1"), res("b", "1")), delta("2", nil, res("a", "2")), "2 [b@1 a@2] -"},
		{"newer removes what older added", delta("1", nil, res("a", "1"), res("b", "1")), delta("2", []string{"a"}), "2 [b@1] -a"},
		{"newer adds back what older removed", delta("1", []string{"a", "x"}), delta("2", nil, res("a", "2")), "2 [a@2] -x"},
		{"removed twice once", delta("1", []string{"a"}), delta("2", []string{"a"}), "2 [] -a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := summary(compose(tc.older, tc.newer)); got != tc.want {
				t.Errorf("compose = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestMergeAndFilter(t *testing.T) {
	n := func(names ...string) []named {
		var out []named
		for _, name := range names {
			out = append(out, named{name: name, version: "old", msg: staticCluster(name)})
		}
		return out
	}
	update := []named{{name: "b", version: "new", msg: staticCluster("b")}, {name: "d", version: "new", msg: staticCluster("d")}}
	got := merge(n("a", "b", "c"), update)
	var names []string
	for _, r := range got {
		names = append(names, r.name+"@"+r.version)
	}
	if want := []string{"a@old", "b@new", "c@old", "d@new"}; !slices.Equal(names, want) {
		t.Errorf("merge = %v, want %v", names, want)
	}
	if got := withoutNamed(n("a", "b", "c"), []string{"b", "zz"}); !sameSet(got, n("a", "c")) {
		t.Errorf("withoutNamed = %v, want a, c", got)
	}
	if got := keepNamed(n("a", "b", "c"), []string{"a", "c", "zz"}); !sameSet(got, n("a", "c")) {
		t.Errorf("keepNamed = %v, want a, c", got)
	}
}
