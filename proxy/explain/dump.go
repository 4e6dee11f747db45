package explain

import (
	"encoding/json"
	"errors"
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	// The dataplane's parsers register every type a config dump may hold
	// in its Any fields (filters, transport sockets, protocol options).
	_ "github.com/weftmesh/weft/proxy/dataplane"
)

// Dump is a proxy's /config_dump: the xDS resources it applied.
type Dump struct {
	Listeners []*listenerv3.Listener
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Routes    []*routev3.RouteConfiguration
	// BoundAddresses maps a bound listener's name to the address it got
	// (the port chosen for port 0).
	BoundAddresses map[string]string
}

// ErrBadDump is wrapped by ParseDump's errors: the bytes are not a
// config dump this version of weftctl understands.
var ErrBadDump = errors.New("not a Weft config dump")

// ParseDump reads the JSON a proxy's admin port serves at /config_dump.
func ParseDump(b []byte) (*Dump, error) {
	var raw struct {
		Listeners      []json.RawMessage `json:"listeners"`
		Clusters       []json.RawMessage `json:"clusters"`
		Endpoints      []json.RawMessage `json:"endpoints"`
		Routes         []json.RawMessage `json:"routes"`
		BoundAddresses map[string]string `json:"bound_addresses"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadDump, err)
	}
	if raw.Listeners == nil && raw.Clusters == nil {
		return nil, fmt.Errorf("%w: no listeners and no clusters", ErrBadDump)
	}
	d := &Dump{BoundAddresses: raw.BoundAddresses}
	var err error
	if d.Listeners, err = unmarshalAll[listenerv3.Listener]("listeners", raw.Listeners); err != nil {
		return nil, err
	}
	if d.Clusters, err = unmarshalAll[clusterv3.Cluster]("clusters", raw.Clusters); err != nil {
		return nil, err
	}
	if d.Endpoints, err = unmarshalAll[endpointv3.ClusterLoadAssignment]("endpoints", raw.Endpoints); err != nil {
		return nil, err
	}
	if d.Routes, err = unmarshalAll[routev3.RouteConfiguration]("routes", raw.Routes); err != nil {
		return nil, err
	}
	return d, nil
}

func unmarshalAll[T any, M interface {
	*T
	proto.Message
}](kind string, raws []json.RawMessage) ([]M, error) {
	out := make([]M, 0, len(raws))
	for i, r := range raws {
		m := M(new(T))
		if err := protojson.Unmarshal(r, m); err != nil {
			return nil, fmt.Errorf("%w: %s[%d]: %w", ErrBadDump, kind, i, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func (d *Dump) cluster(name string) *clusterv3.Cluster {
	for _, c := range d.Clusters {
		if c.GetName() == name {
			return c
		}
	}
	return nil
}

func (d *Dump) assignment(name string) *endpointv3.ClusterLoadAssignment {
	for _, a := range d.Endpoints {
		if a.GetClusterName() == name {
			return a
		}
	}
	return nil
}

func (d *Dump) routeConfig(name string) *routev3.RouteConfiguration {
	for _, r := range d.Routes {
		if r.GetName() == name {
			return r
		}
	}
	return nil
}
