package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BinDir is where an image keeps its binary; its PATH includes it, so
// manifests may run "weft-cni install" without the full path.
const BinDir = "/usr/local/bin"

// epoch stamps every file and the image's creation: the same binary gives
// the same image digest, whoever builds it and whenever.
func epoch() time.Time { return time.Unix(0, 0).UTC() }

// newImage is the image of s around the binary at bin: one layer, an OCI
// manifest, and a config that runs the binary as s's user.
func newImage(s Spec, bin string, cfg Config) (v1.Image, error) {
	binary, err := os.ReadFile(bin) //nolint:gosec // the binary buildBinary wrote
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	layer, err := rootfsLayer(s.Name, binary)
	if err != nil {
		return nil, err
	}
	user := strconv.Itoa(s.UID) + ":" + strconv.Itoa(s.UID)
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.ConfigFile(base, &v1.ConfigFile{
		Architecture: cfg.Arch,
		OS:           "linux",
		Created:      v1.Time{Time: epoch()},
		Config: v1.Config{
			Entrypoint: []string{BinDir + "/" + s.Name},
			User:       user,
			WorkingDir: "/",
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Labels: map[string]string{
				"org.opencontainers.image.source":   SourceURL,
				"org.opencontainers.image.version":  cfg.Version,
				"org.opencontainers.image.revision": cfg.Commit,
				"org.opencontainers.image.title":    s.Name,
			},
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: epoch()},
			CreatedBy: "hack/images: " + BinDir + "/" + s.Name + ", /etc/passwd, /etc/group, /tmp",
			Comment:   s.Name + " " + cfg.Version,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	return img, nil
}
