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
// every resource's deterministic encoding, in type then input order.
func digest(res translate.Resources) (string, error) {
	h := sha256.New()
	typeURLs := make([]string, 0, len(res))
	for t := range res {
		typeURLs = append(typeURLs, t)
	}
	slices.Sort(typeURLs)
	opts := proto.MarshalOptions{Deterministic: true}
	for _, t := range typeURLs {
		h.Write([]byte(t))
		for _, r := range res[t] {
			b, err := opts.Marshal(r)
			if err != nil {
				return "", fmt.Errorf("encoding %s %q: %w", t, cachev3.GetResourceName(r), err)
			}
			fmt.Fprintf(h, "%d:", len(b))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
