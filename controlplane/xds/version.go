package xds

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"

	"github.com/weftmesh/weft/controlplane/translate"
)

// digest is a snapshot version: the first 16 hex digits of a SHA-256 over
// every resource's deterministic encoding, in type then input order. It
// also returns the total size of those encodings and, per type, the
// SHA-256 of each resource's encoding, index for index (the interner's
// keys).
func digest(res translate.Resources) (string, int, map[string][][32]byte, error) {
	h := sha256.New()
	typeURLs := make([]string, 0, len(res))
	for t := range res {
		typeURLs = append(typeURLs, t)
	}
	slices.Sort(typeURLs)
	opts := proto.MarshalOptions{Deterministic: true}
	size := 0
	sums := make(map[string][][32]byte, len(res))
	var b []byte // one buffer for every encoding: an update digests thousands
	for _, t := range typeURLs {
		h.Write([]byte(t))
		ts := make([][32]byte, 0, len(res[t]))
		for _, r := range res[t] {
			var err error
			b, err = opts.MarshalAppend(b[:0], r)
			if err != nil {
				return "", 0, nil, fmt.Errorf("encoding %s %q: %w", t, cachev3.GetResourceName(r), err)
			}
			size += len(b)
			ts = append(ts, sha256.Sum256(b))
			fmt.Fprintf(h, "%d:", len(b))
			h.Write(b)
		}
		sums[t] = ts
	}
	return hex.EncodeToString(h.Sum(nil))[:16], size, sums, nil
}
