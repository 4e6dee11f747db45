package configdir

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// source is the content of one configuration file.
type source struct {
	name string
	data []byte
}

// Load reads the mesh described by the YAML files in dir, in trust domain
// td. When the files were read but describe no valid mesh, the error is an
// *Error listing every problem; other errors come from the file system.
func Load(dir string, td spiffeid.TrustDomain) (*model.Mesh, error) {
	if td.IsZero() {
		return nil, errors.New("load mesh config: trust domain is required")
	}
	sources, err := readDir(dir)
	if err != nil {
		return nil, err
	}
	return build(td, sources)
}

// readDir reads the configuration files of dir in name order: regular
// files (or symlinks to them) named *.yaml or *.yml, not hidden.
func readDir(dir string) ([]source, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read mesh config directory: %w", err)
	}
	var sources []source
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || (filepath.Ext(name) != ".yaml" && filepath.Ext(name) != ".yml") {
			continue
		}
		path := filepath.Join(dir, name)
		info, err := os.Stat(path) // follows symlinks, as in a ConfigMap volume
		if err != nil {
			return nil, fmt.Errorf("read mesh config: %w", err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read mesh config: %w", err)
		}
		sources = append(sources, source{name: name, data: data})
	}
	return sources, nil
}

// build decodes, validates and converts the files into a Mesh.
func build(td spiffeid.TrustDomain, sources []source) (*model.Mesh, error) {
	var (
		objs     []object
		problems []Problem
	)
	for _, src := range sources {
		o, ps := parseFile(src.name, src.data)
		objs = append(objs, o...)
		problems = append(problems, ps...)
	}
	for _, o := range objs {
		o.spec.defaults(o.val)
		problems = append(problems, o.spec.validate(o.doc, td, o.val)...)
	}
	problems = append(problems, crossCheck(objs)...)
	if len(problems) > 0 {
		sortProblems(problems)
		return nil, &Error{Problems: problems}
	}

	mesh := &model.Mesh{TrustDomain: td}
	for _, o := range objs {
		o.spec.add(mesh, o.val)
	}
	pruneSecrets(mesh)
	pruneNamespaceLabels(mesh)
	mesh.Sort()
	return mesh, nil
}

// crossCheck finds what no single document shows.
func crossCheck(objs []object) []Problem {
	return append(duplicateObjects(objs), sharedAddresses(objs)...)
}

// duplicateObjects reports objects of one kind with the same namespace and
// name.
func duplicateObjects(objs []object) []Problem {
	type objKey struct {
		kind            kind
		namespace, name string
	}
	var problems []Problem
	seen := make(map[objKey]document)
	for _, o := range objs {
		k := objKey{kind: o.spec.kind, namespace: namespaceOf(o.val), name: o.val.GetName()}
		if k.name == "" {
			continue // reported by validation
		}
		name := k.namespace + "/" + k.name
		if _, ok := o.val.(*corev1.Namespace); ok {
			name = k.name // not in a namespace
		}
		if first, dup := seen[k]; dup {
			problems = append(problems, o.doc.problem("metadata.name", fmt.Sprintf(
				"duplicate %s %s (first defined at %s)", k.kind.kind, name, location{first, "metadata.name"})))
			continue
		}
		seen[k] = o.doc
	}
	return problems
}

// sharedAddresses reports workloads whose sidecars claim the same address
// and port; a workload's own duplicate ports are reported by validation.
func sharedAddresses(objs []object) []Problem {
	type claim struct {
		at    location
		owner *object
	}
	var problems []Problem
	claims := make(map[netip.AddrPort]claim)
	for i := range objs {
		o := &objs[i]
		wl, ok := o.val.(*v1alpha1.Workload)
		if !ok {
			continue
		}
		addr, err := netip.ParseAddr(wl.Spec.Address)
		if err != nil {
			continue // reported by validation
		}
		for j, p := range wl.Spec.Ports {
			if p.Port < 1 || p.Port > 65535 {
				continue // reported by validation
			}
			ap := netip.AddrPortFrom(addr, uint16(p.Port))
			here := location{o.doc, fieldPath("spec.ports").index(j).key("port")}
			first, dup := claims[ap]
			switch {
			case !dup:
				claims[ap] = claim{at: here, owner: o}
			case first.owner != o:
				owner := first.owner.val
				problems = append(problems, o.doc.problem(here.path, fmt.Sprintf(
					"%s is already claimed by workload %s/%s (%s)", ap, namespaceOf(owner), owner.GetName(), first.at)))
			}
		}
	}
	return problems
}

// location is a field of a document, rendered as "file:line".
type location struct {
	doc  document
	path fieldPath
}

func (l location) String() string {
	return l.doc.file + ":" + strconv.Itoa(lineOf(l.doc.root, l.path))
}
