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
		if o.service != nil {
			problems = append(problems, validateService(o.doc, o.service)...)
		} else {
			problems = append(problems, validateWorkload(o.doc, td, o.workload)...)
		}
	}
	problems = append(problems, crossCheck(objs)...)
	if len(problems) > 0 {
		sortProblems(problems)
		return nil, &Error{Problems: problems}
	}

	mesh := &model.Mesh{TrustDomain: td}
	for _, o := range objs {
		if o.service != nil {
			mesh.Services = append(mesh.Services, toService(o.service))
		} else {
			mesh.Workloads = append(mesh.Workloads, toWorkload(o.workload))
		}
	}
	mesh.Sort()
	return mesh, nil
}

// crossCheck finds what no single document shows: two objects of one kind
// with the same namespace and name, and two workloads whose sidecars claim
// the same address and port.
func crossCheck(objs []object) []Problem {
	var problems []Problem
	type objKey struct {
		kind            kind
		namespace, name string
	}
	seen := make(map[objKey]document)
	type claim struct {
		at    location
		owner string
	}
	bound := make(map[netip.AddrPort]claim)
	for _, o := range objs {
		k := objKey{kind: serviceKind}
		meta := o.metadata()
		if o.workload != nil {
			k.kind = workloadKind
		}
		k.namespace, k.name = namespaceOf(meta), meta.Name
		if first, dup := seen[k]; dup && k.name != "" {
			problems = append(problems, o.doc.problem("metadata.name", fmt.Sprintf(
				"duplicate %s %s/%s (first defined at %s)", k.kind.kind, k.namespace, k.name,
				location{first, "metadata.name"})))
		} else {
			seen[k] = o.doc
		}
		if o.workload == nil {
			continue
		}
		addr, err := netip.ParseAddr(o.workload.Spec.Address)
		if err != nil {
			continue // reported by validateWorkload
		}
		for i, p := range o.workload.Spec.Ports {
			if p.Port < 1 || p.Port > 65535 {
				continue
			}
			here := location{o.doc, fieldPath("spec.ports").index(i).key("port")}
			ap := netip.AddrPortFrom(addr, uint16(p.Port))
			first, dup := bound[ap]
			switch {
			case !dup:
				bound[ap] = claim{at: here, owner: k.namespace + "/" + k.name}
			case first.at.doc.root != o.doc.root:
				problems = append(problems, o.doc.problem(here.path, fmt.Sprintf(
					"%s is already claimed by workload %s (%s)", ap, first.owner, first.at)))
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
