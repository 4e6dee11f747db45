package translate

import (
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// Consistent is snap.Consistent that also counts the RouteConfigurations
// named by api_listeners. go-control-plane (v0.14) looks for RDS names in
// filter chains only, so a proxyless client's snapshot (Proxyless), whose
// listeners name their routes from an api_listener, would look as if it
// held unreferenced routes. Consistent checks a copy whose api_listeners
// are shown as a filter chain; snap itself is not changed, and a
// snapshot without api_listeners is checked as it is.
func Consistent(snap *cache.Snapshot) error {
	if snap == nil {
		return snap.Consistent()
	}
	items := snap.Resources[types.Listener].Items
	var shown map[string]types.ResourceWithTTL
	for name, r := range items {
		l, ok := r.Resource.(*listener.Listener)
		if !ok || l.GetApiListener().GetApiListener() == nil {
			continue
		}
		if shown == nil {
			shown = make(map[string]types.ResourceWithTTL, len(items))
			for n, r := range items {
				shown[n] = r
			}
		}
		// Only the route references matter to the check.
		shown[name] = types.ResourceWithTTL{Resource: &listener.Listener{
			Name: l.GetName(),
			FilterChains: []*listener.FilterChain{{Filters: []*listener.Filter{{
				Name:       "api_listener",
				ConfigType: &listener.Filter_TypedConfig{TypedConfig: l.GetApiListener().GetApiListener()},
			}}}},
		}}
	}
	if shown == nil {
		return snap.Consistent()
	}
	check := *snap
	check.Resources[types.Listener] = cache.Resources{Version: snap.Resources[types.Listener].Version, Items: shown}
	return check.Consistent()
}
