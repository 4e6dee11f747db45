package ociimage

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Extract writes img's file system into the existing directory root, with
// the modes its layers record, and the owners too when running as root,
// so that a test can run the entrypoint in a chroot of it as the image's
// user. It knows the directories and regular files that New writes, and
// refuses anything else and any path that leaves root.
func Extract(img v1.Image, root string) (err error) {
	rc := mutate.Extract(img)
	defer func() { err = errors.Join(err, rc.Close()) }()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("extract: %w", err)
		}
		if !filepath.IsLocal(h.Name) {
			return fmt.Errorf("extract: entry %q escapes the root", h.Name)
		}
		p := filepath.Join(root, h.Name) //nolint:gosec // IsLocal above: below root
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755) //nolint:gosec // then the image's own mode
		case tar.TypeReg:
			err = writeFile(p, tr)
		default:
			return fmt.Errorf("extract: entry %q of type %c: want directories and regular files", h.Name, h.Typeflag)
		}
		if err == nil {
			err = os.Chmod(p, os.FileMode(h.Mode).Perm()|modeBits(h.Mode)) //nolint:gosec // the image's own modes
		}
		if err == nil && os.Geteuid() == 0 {
			err = os.Lchown(p, h.Uid, h.Gid)
		}
		if err != nil {
			return fmt.Errorf("extract %s: %w", h.Name, err)
		}
	}
}

func writeFile(p string, r io.Reader) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err //nolint:wrapcheck // Extract names the entry
	}
	_, err = io.Copy(f, r)
	return errors.Join(err, f.Close())
}

// modeBits are the setuid, setgid and sticky bits of a tar mode.
func modeBits(mode int64) os.FileMode {
	var m os.FileMode
	if mode&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}
