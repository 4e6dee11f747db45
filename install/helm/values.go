package helm

import (
	"fmt"
	"os"
	"strings"

	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/yaml"
)

// ValueFlags are helm's value flags.
type ValueFlags struct {
	Files []string // -f: YAML files
	// Sets are --set: key=value, a.b=c, list[0]=x, several
	// comma-separated; a value that looks like a number or a boolean
	// becomes one.
	Sets []string
	// SetStrings are --set-string: as Sets, but every value stays a
	// string (an image tag 3547958 or 1e10).
	SetStrings []string
}

// ParseValues merges values as helm does: base, then each file in order,
// then each --set, then each --set-string, a later one replacing an
// earlier one key by key. Base is not modified.
func ParseValues(base map[string]any, f ValueFlags) (map[string]any, error) {
	out := mergeValues(map[string]any{}, base)
	for _, f := range f.Files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("values file: %w", err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("values file %s: %w", f, err)
		}
		out = mergeValues(out, m)
	}
	for _, s := range f.Sets {
		if err := strvals.ParseInto(s, out); err != nil {
			return nil, fmt.Errorf("--set %q: %w", s, err)
		}
	}
	for _, s := range f.SetStrings {
		if err := strvals.ParseIntoString(s, out); err != nil {
			return nil, fmt.Errorf("--set-string %q: %w", s, err)
		}
	}
	return out, nil
}

// mergeValues copies src into dst, merging maps key by key and replacing
// everything else.
func mergeValues(dst, src map[string]any) map[string]any {
	for k, v := range src {
		if vm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = mergeValues(dm, vm)
				continue
			}
			dst[k] = mergeValues(map[string]any{}, vm)
			continue
		}
		dst[k] = v
	}
	return dst
}

// typeHint is what to add to a schema error that a --set value's type
// likely caused: --set reads 3547958 as a number and true as a boolean.
func typeHint(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "want string") && (strings.Contains(msg, "got number") || strings.Contains(msg, "got boolean")) {
		hint := "(--set turns a value that looks like a number or a boolean into one: give strings such as image tags with --set-string)"
		if !strings.HasSuffix(msg, "\n") {
			hint = "\n" + hint
		}
		return hint
	}
	return ""
}
