package route

import "github.com/weftmesh/weft/proxy/allowlist"

// problems collects everything wrong with one RouteConfiguration, each as
// `route_config "<name>": <field path>: <message>`, so one Compile reports
// all of them at once.
type problems = allowlist.Problems

func newProblems(name string) *problems { return allowlist.New("route_config", name) }

// field appends a field name to a path.
func field(path, name string) string { return allowlist.Field(path, name) }

// index appends a list index to a path.
func index(path string, i int) string { return allowlist.Index(path, i) }
