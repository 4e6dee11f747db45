package xdsclient

import (
	"context"
	"fmt"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
)

// Type URLs of the resources the client subscribes to.
const (
	ClusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	EndpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	RouteType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
)

// typeLabel is the metric label of a type URL.
func typeLabel(typeURL string) string {
	switch typeURL {
	case ClusterType:
		return "cds"
	case EndpointType:
		return "eds"
	case ListenerType:
		return "lds"
	case RouteType:
		return "rds"
	case SecretType:
		return "sds"
	}
	return ""
}

// typeURLs lists the subscribed types in the order Envoy applies them.
func typeURLs() []string {
	return []string{ClusterType, EndpointType, ListenerType, RouteType, SecretType}
}

// named is one decoded resource, with the version a delta response gave it
// ("" for SotW).
type named struct {
	name    string
	version string
	msg     proto.Message
}

// decode unmarshals every resource of r, which must all be of r's type and
// carry unique, non-empty names, and returns them sorted by name. A delta
// resource's name must be its body's, and must not also be removed.
func decode(r *response) ([]named, error) {
	typeURL := r.typeURL
	out := make([]named, 0, len(r.resources))
	seen := make(map[string]int, len(r.resources))
	removed := make(map[string]bool, len(r.removed))
	for _, name := range r.removed {
		removed[name] = true
	}
	for i, res := range r.resources {
		if r.incremental && res.body == nil {
			return nil, fmt.Errorf("resource %d (%q): no body (TTL refreshes are not supported)", i, res.name)
		}
		a := res.body
		if a.GetTypeUrl() != typeURL {
			return nil, fmt.Errorf("resource %d: type %q in a %q response", i, a.GetTypeUrl(), typeURL)
		}
		msg, ok := newMessage(typeURL)
		if !ok {
			return nil, fmt.Errorf("unsubscribed type %q", typeURL)
		}
		if err := a.UnmarshalTo(msg); err != nil {
			return nil, fmt.Errorf("resource %d: unmarshalling %s: %w", i, typeURL, err)
		}
		name := nameOf(msg)
		if name == "" {
			return nil, fmt.Errorf("resource %d: empty name", i)
		}
		if r.incremental && res.name != name {
			return nil, fmt.Errorf("resource %d: named %q in the response but %q in its body", i, res.name, name)
		}
		if j, dup := seen[name]; dup {
			return nil, fmt.Errorf("resource %d: duplicate name %q (also resource %d)", i, name, j)
		}
		if removed[name] {
			return nil, fmt.Errorf("resource %d: %q is also in removed_resources", i, name)
		}
		seen[name] = i
		out = append(out, named{name: name, version: res.version, msg: msg})
	}
	sortByName(out)
	return out, nil
}

func newMessage(typeURL string) (proto.Message, bool) {
	switch typeURL {
	case ClusterType:
		return &clusterv3.Cluster{}, true
	case EndpointType:
		return &endpointv3.ClusterLoadAssignment{}, true
	case ListenerType:
		return &listenerv3.Listener{}, true
	case RouteType:
		return &routev3.RouteConfiguration{}, true
	case SecretType:
		return &tlsv3.Secret{}, true
	}
	return nil, false
}

func nameOf(msg proto.Message) string {
	switch m := msg.(type) {
	case *clusterv3.Cluster:
		return m.GetName()
	case *endpointv3.ClusterLoadAssignment:
		return m.GetClusterName()
	case *listenerv3.Listener:
		return m.GetName()
	case *routev3.RouteConfiguration:
		return m.GetName()
	case *tlsv3.Secret:
		return m.GetName()
	}
	return ""
}

func sortByName(set []named) {
	slices.SortFunc(set, func(a, b named) int { return strings.Compare(a.name, b.name) })
}

// sameSet reports whether two sets sorted by name hold equal resources.
// A merged set shares the accepted resources a delta response left alone:
// those are the same message, and need no deep comparison.
func sameSet(a, b []named) bool {
	return slices.EqualFunc(a, b, func(x, y named) bool {
		return x.name == y.name && (x.msg == y.msg || proto.Equal(x.msg, y.msg))
	})
}

// edsNames returns the sorted, unique EDS service names of a set of
// clusters: eds_cluster_config.service_name, or the cluster's name.
func edsNames(clusters []named) []string {
	var names []string
	for _, r := range clusters {
		c, ok := r.msg.(*clusterv3.Cluster)
		if !ok || c.GetType() != clusterv3.Cluster_EDS {
			continue
		}
		name := c.GetEdsClusterConfig().GetServiceName()
		if name == "" {
			name = c.GetName()
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// rdsNames returns the sorted, unique route_config_names that the HTTP
// connection managers of a set of listeners take over RDS. Filters that do
// not hold an HttpConnectionManager, or hold one that does not unmarshal,
// are skipped: the Handler judges them.
func rdsNames(listeners []named) []string {
	want := "type.googleapis.com/" + string((&hcmv3.HttpConnectionManager{}).ProtoReflect().Descriptor().FullName())
	var names []string
	for _, r := range listeners {
		l, ok := r.msg.(*listenerv3.Listener)
		if !ok {
			continue
		}
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				if f.GetTypedConfig().GetTypeUrl() != want {
					continue
				}
				var hcm hcmv3.HttpConnectionManager
				if err := f.GetTypedConfig().UnmarshalTo(&hcm); err != nil {
					continue
				}
				if name := hcm.GetRds().GetRouteConfigName(); name != "" {
					names = append(names, name)
				}
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// mergeSubscribed returns the resources to hand the Handler after an EDS,
// RDS or SDS response: the accepted ones still subscribed, replaced or
// completed by the response's. Resources nobody subscribed to are dropped.
func mergeSubscribed(accepted, update []named, subscribed []string) []named {
	return keepNamed(merge(accepted, update), subscribed)
}

// merge returns set with update's resources added, or replacing those of
// the same name; both sorted by name, and so is the result.
func merge(set, update []named) []named {
	out := make([]named, 0, len(set)+len(update))
	i, j := 0, 0
	for i < len(set) || j < len(update) {
		switch {
		case j == len(update) || (i < len(set) && set[i].name < update[j].name):
			out = append(out, set[i])
			i++
		case i == len(set) || update[j].name < set[i].name:
			out = append(out, update[j])
			j++
		default: // the same name: the update wins
			out = append(out, update[j])
			i++
			j++
		}
	}
	return out
}

// keepNamed returns the resources of set that names (sorted) holds.
func keepNamed(set []named, names []string) []named {
	out := make([]named, 0, len(names))
	for _, r := range set {
		if _, ok := slices.BinarySearch(names, r.name); ok {
			out = append(out, r)
		}
	}
	return out
}

// withoutNamed returns the resources of set that names does not hold.
func withoutNamed(set []named, names []string) []named {
	if len(names) == 0 {
		return set
	}
	gone := make(map[string]bool, len(names))
	for _, n := range names {
		gone[n] = true
	}
	return slices.DeleteFunc(slices.Clone(set), func(r named) bool { return gone[r.name] })
}

// apply hands a decoded set to the Handler method for its type.
func apply(ctx context.Context, h Handler, typeURL string, set []named) error {
	switch typeURL {
	case ClusterType:
		return h.OnClusters(ctx, messages[*clusterv3.Cluster](set))
	case EndpointType:
		return h.OnEndpoints(ctx, messages[*endpointv3.ClusterLoadAssignment](set))
	case ListenerType:
		return h.OnListeners(ctx, messages[*listenerv3.Listener](set))
	case RouteType:
		return h.OnRoutes(ctx, messages[*routev3.RouteConfiguration](set))
	case SecretType:
		if sh, ok := h.(SecretHandler); ok {
			return sh.OnSecrets(ctx, messages[*tlsv3.Secret](set))
		}
	}
	return fmt.Errorf("unsubscribed type %q", typeURL)
}

func messages[T proto.Message](set []named) []T {
	out := make([]T, len(set))
	for i, r := range set {
		out[i] = r.msg.(T)
	}
	return out
}
