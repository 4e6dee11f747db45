// Package ociimage writes the single-binary images that Weft's build tools
// (hack/images for the product, hack/e2eimages for the end-to-end tests)
// make without Docker: one layer holding a static binary, /etc/passwd,
// /etc/group and /tmp on an empty base, OCI media types, and every date set
// to the Unix epoch, so that the same binary always gives the same digest.
// The images are written as "docker save" tarballs, which "ctr images
// import", "kind load image-archive" and "docker load" read.
package ociimage

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultPath is the PATH of every image; it includes /usr/local/bin, so a
// manifest may run a binary kept there by name.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Epoch stamps every file and the image's creation.
func Epoch() time.Time { return time.Unix(0, 0).UTC() }

// Spec is one image around one binary.
type Spec struct {
	Binary    []byte            // the static executable
	Path      string            // its absolute path in the image; the entrypoint
	Args      []string          // the image's Cmd (arguments after Path); nil for none
	User      string            // "uid:gid"; empty runs as root
	Arch      string            // GOARCH; the platform is linux/<Arch>
	Labels    map[string]string // the config's labels
	CreatedBy string            // the layer's history: what made it
	Comment   string            // the layer's history: a note
}

// Validate says what is wrong with s.
func (s Spec) Validate() error {
	var errs []error
	if len(s.Binary) == 0 {
		errs = append(errs, errors.New("no binary"))
	}
	if !path.IsAbs(s.Path) || path.Clean(s.Path) != s.Path || strings.HasSuffix(s.Path, "/") || s.Path == "/" {
		errs = append(errs, fmt.Errorf("binary path %q: want a clean absolute file path", s.Path))
	}
	if s.Arch == "" {
		errs = append(errs, errors.New("no architecture"))
	}
	return errors.Join(errs...)
}

// New is the image of s: an OCI manifest, a config that runs the binary
// as s.User in /, and one layer (see Layer).
func New(s Spec) (v1.Image, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("image spec: %w", err)
	}
	layer, err := Layer(s.Path, s.Binary)
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.ConfigFile(base, &v1.ConfigFile{
		Architecture: s.Arch,
		OS:           "linux",
		Created:      v1.Time{Time: Epoch()},
		Config: v1.Config{
			Entrypoint: []string{s.Path},
			Cmd:        s.Args,
			User:       s.User,
			WorkingDir: "/",
			Env:        []string{DefaultPath},
			Labels:     s.Labels,
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
			Created:   v1.Time{Time: Epoch()},
			CreatedBy: s.CreatedBy,
			Comment:   s.Comment,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	return img, nil
}

// Write saves img under tags as an image tarball at file, atomically: a
// failed write leaves no half tarball behind for a later build to trust.
func Write(file string, img v1.Image, tags ...name.Tag) error {
	if len(tags) == 0 {
		return fmt.Errorf("write %s: no tag", file)
	}
	refs := make(map[name.Reference]v1.Image, len(tags))
	for _, t := range tags {
		refs[t] = img
	}
	tmp := file + ".tmp"
	if err := tarball.MultiRefWriteToFile(tmp, refs); err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", file, err), removeIfExists(tmp))
	}
	if err := rename(tmp, file); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}
