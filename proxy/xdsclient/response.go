package xdsclient

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"

	"google.golang.org/protobuf/types/known/anypb"
)

// response is one ADS response of either protocol, as the wire read it.
type response struct {
	typeURL string
	version string // version_info (SotW) or system_version_info (delta)
	nonce   string
	// resources are the response's resources. A SotW response's CDS and
	// LDS resources are the whole set of the type; otherwise they change
	// the accepted set.
	resources []resource
	// incremental marks a delta response: its resources carry their names
	// and versions, and removed names the resources that are gone.
	incremental bool
	removed     []string
}

// resource is one resource of a response: its body, and for delta the name
// and version the response gives it.
type resource struct {
	name, version string
	body          *anypb.Any
}

// wildcard reports whether the client subscribes to every resource of a
// type (CDS and LDS) rather than to names (EDS, RDS, SDS).
func wildcard(typeURL string) bool {
	return typeURL == ClusterType || typeURL == ListenerType
}

// compose returns the response that stands for older followed by newer,
// where older was received but not accepted (held, or rejected). A SotW
// response supersedes the one before it; delta responses are changes, so
// newer is laid over older, and none of older's changes is lost.
func compose(older, newer *response) *response {
	if older == nil || !older.incremental || !newer.incremental {
		return newer
	}
	touched := make(map[string]bool, len(newer.resources)+len(newer.removed))
	for _, r := range newer.resources {
		touched[r.name] = true
	}
	out := *newer
	out.removed = nil
	for _, name := range older.removed {
		if !touched[name] && !slices.Contains(newer.removed, name) {
			out.removed = append(out.removed, name)
		}
	}
	out.removed = append(out.removed, newer.removed...)
	for _, name := range newer.removed {
		touched[name] = true
	}
	out.resources = nil
	for _, r := range older.resources {
		if !touched[r.name] {
			out.resources = append(out.resources, r)
		}
	}
	out.resources = append(out.resources, newer.resources...)
	return &out
}

// digest identifies a response's content independently of its nonce and of
// the order of its resources and removals.
func (r *response) digest() [sha256.Size]byte {
	resources := slices.Clone(r.resources)
	slices.SortFunc(resources, func(a, b resource) int {
		return cmp.Or(
			strings.Compare(a.name, b.name),
			strings.Compare(a.body.GetTypeUrl(), b.body.GetTypeUrl()),
			strings.Compare(string(a.body.GetValue()), string(b.body.GetValue())),
		)
	})
	removed := slices.Sorted(slices.Values(r.removed))
	h := sha256.New()
	field := func(b []byte) {
		h.Write(binary.AppendVarint(nil, int64(len(b))))
		h.Write(b)
	}
	field([]byte(r.typeURL))
	field([]byte(r.version))
	h.Write(binary.AppendUvarint(nil, uint64(len(resources))))
	for _, res := range resources {
		field([]byte(res.name))
		field([]byte(res.version))
		field([]byte(res.body.GetTypeUrl()))
		field(res.body.GetValue())
	}
	for _, name := range removed {
		field([]byte(name))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
