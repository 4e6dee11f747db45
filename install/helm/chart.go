package helm

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// chartFS is the chart directory; "all:" keeps _helpers.tpl.
//
//go:embed all:weft
var chartFS embed.FS

// chartDir is the chart's directory within chartFS.
const chartDir = "weft"

// Load returns the embedded chart, as Helm would load install/helm/weft.
func Load() (*chart.Chart, error) {
	var files []*loader.BufferedFile
	err := fs.WalkDir(chartFS, chartDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := chartFS.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: strings.TrimPrefix(p, chartDir+"/"), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the embedded chart: %w", err)
	}
	c, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("load the embedded chart: %w", err)
	}
	return c, nil
}

// CRDs returns the chart's CustomResourceDefinitions (its crds/
// directory, a copy of install/crds that make generate keeps), by file
// name.
func CRDs() (map[string][]byte, error) {
	entries, err := chartFS.ReadDir(path.Join(chartDir, "crds"))
	if err != nil {
		return nil, fmt.Errorf("read the chart's CRDs: %w", err)
	}
	out := make(map[string][]byte, len(entries))
	for _, e := range entries {
		data, err := chartFS.ReadFile(path.Join(chartDir, "crds", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read the chart's CRDs: %w", err)
		}
		out[e.Name()] = data
	}
	if len(out) == 0 {
		return nil, errors.New("the chart has no CRDs: run make generate")
	}
	return out, nil
}
