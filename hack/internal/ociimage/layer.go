package ociimage

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The users every image names in /etc/passwd and /etc/group, so that
// tools inside and outside the container (ps, a kubelet's runAsNonRoot
// check by name, Go's os/user) resolve them: root, distroless's nonroot,
// and weft-proxy.
const (
	NonRootUID = 65532 // distroless's "nonroot"
	ProxyUID   = 1337  // weft-proxy, whose traffic the capture rules exempt

	//nolint:gosec // "x": no password here, as in every /etc/passwd
	passwd = `root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
weft-proxy:x:1337:1337:weft-proxy:/:/sbin/nologin
`
	group = `root:x:0:
nonroot:x:65532:
weft-proxy:x:1337:
`
)

// Layer is an image's only layer: the binary at binPath (mode 0755, with
// its parent directories), /etc/passwd and /etc/group, and the
// directories a Go program expects (/tmp world-writable and sticky; the
// users' homes).
func Layer(binPath string, binary []byte) (v1.Layer, error) {
	type entry struct {
		name     string
		mode     int64
		uid      int
		contents []byte
		dir      bool
	}
	entries := []entry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, contents: []byte(passwd)},
		{name: "etc/group", mode: 0o644, contents: []byte(group)},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, uid: NonRootUID, dir: true},
		{name: "root/", mode: 0o700, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
	}
	rel := strings.TrimPrefix(path.Clean(binPath), "/")
	if rel == "" || rel == "." || strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("layer: binary path %q", binPath)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.name] = true
	}
	// The binary's parent directories, outermost first.
	parts := strings.Split(rel, "/")
	for i := 1; i < len(parts); i++ {
		dir := strings.Join(parts[:i], "/") + "/"
		if !seen[dir] {
			seen[dir] = true
			entries = append(entries, entry{name: dir, mode: 0o755, dir: true})
		}
	}
	if seen[rel+"/"] || seen[rel] {
		return nil, fmt.Errorf("layer: binary path %q is one of the image's own files", binPath)
	}
	entries = append(entries, entry{name: rel, mode: 0o755, contents: binary})

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.uid,
			ModTime: Epoch(),
		}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.contents))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.contents); err != nil {
			return nil, fmt.Errorf("layer %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return describedLayer{layer}, nil
}

// describedLayer hides the tarball layer's own descriptor, whose empty
// (not nil) annotations would make the image's Manifest() differ from its
// serialized manifest, which validate.Image and registries compare.
type describedLayer struct{ v1.Layer }

func rename(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return errors.Join(err, removeIfExists(from))
	}
	return nil
}

func removeIfExists(file string) error {
	if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", file, err)
	}
	return nil
}
