package dataplane

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// ConfigDump returns the configuration currently applied, as JSON:
//
//	{"listeners": [...], "clusters": [...], "endpoints": [...],
//	 "routes": [...], "bound_addresses": {"<listener>": "<ip:port>"}}
//
// Resources are in the order they were received, each in protojson form;
// bound_addresses shows the port chosen for listeners configured with port 0
// (the first address of each bound listener; virtual listeners bind none).
func (d *Dataplane) ConfigDump() (json.RawMessage, error) {
	d.mu.Lock()
	a := d.applied
	bound := make(map[string]string, len(d.listeners))
	for name, l := range d.listeners {
		if len(l.lns) > 0 {
			bound[name] = l.lns[0].Addr().String()
		}
	}
	d.mu.Unlock()

	var dump struct {
		Listeners      []json.RawMessage `json:"listeners"`
		Clusters       []json.RawMessage `json:"clusters"`
		Endpoints      []json.RawMessage `json:"endpoints"`
		Routes         []json.RawMessage `json:"routes"`
		BoundAddresses map[string]string `json:"bound_addresses"`
	}
	var err error
	if dump.Listeners, err = marshalAll(a.listeners); err != nil {
		return nil, err
	}
	if dump.Clusters, err = marshalAll(a.clusters); err != nil {
		return nil, err
	}
	if dump.Endpoints, err = marshalAll(a.endpoints); err != nil {
		return nil, err
	}
	if dump.Routes, err = marshalAll(a.routes); err != nil {
		return nil, err
	}
	dump.BoundAddresses = bound
	return json.Marshal(dump)
}

func marshalAll[M proto.Message](ms []M) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(ms))
	for _, m := range ms {
		b, err := protojson.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("config dump: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}
