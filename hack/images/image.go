package main

import (
	"fmt"
	"os"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/weftmesh/weft/hack/internal/ociimage"
)

// BinDir is where an image keeps its binary; its PATH includes it, so
// manifests may run "weft-cni install" without the full path.
const BinDir = "/usr/local/bin"

// newImage is the image of s around the binary at bin: one layer, an OCI
// manifest, and a config that runs the binary as s's user.
func newImage(s Spec, bin string, cfg Config) (v1.Image, error) {
	binary, err := os.ReadFile(bin) //nolint:gosec // the binary buildBinary wrote
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	img, err := ociimage.New(ociimage.Spec{
		Binary: binary,
		Path:   BinDir + "/" + s.Name,
		User:   strconv.Itoa(s.UID) + ":" + strconv.Itoa(s.UID),
		Arch:   cfg.Arch,
		Labels: map[string]string{
			"org.opencontainers.image.source":   SourceURL,
			"org.opencontainers.image.version":  cfg.Version,
			"org.opencontainers.image.revision": cfg.Commit,
			"org.opencontainers.image.title":    s.Name,
		},
		CreatedBy: "hack/images: " + BinDir + "/" + s.Name + ", /etc/passwd, /etc/group, /tmp",
		Comment:   s.Name + " " + cfg.Version,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	return img, nil
}
