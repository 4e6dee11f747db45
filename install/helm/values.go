package helm

import (
	"fmt"
	"os"

	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/yaml"
)

// ParseValues merges values as helm does: base, then each file in order,
// then each --set (key=value, a.b=c, list[0]=x; several comma-separated),
// a later one replacing an earlier one key by key. Base is not modified.
func ParseValues(base map[string]any, files, sets []string) (map[string]any, error) {
	out := mergeValues(map[string]any{}, base)
	for _, f := range files {
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
	for _, s := range sets {
		if err := strvals.ParseInto(s, out); err != nil {
			return nil, fmt.Errorf("--set %q: %w", s, err)
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
