package configdir

import (
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Gateway API routes go into the mesh with the defaults of the Gateway API
// CRDs (v1.6, standard channel) applied, so that the translator sees what
// it would read from the API server. Note that a parentRef's group
// defaults to gateway.networking.k8s.io: a route meant for a Service must
// say `group: ""`, as with kubectl.

const (
	gatewayGroup = gwv1.Group(gwv1.GroupName)
	gatewayKind  = gwv1.Kind("Gateway")
	serviceKind  = gwv1.Kind("Service")
)

func defaultHTTPRoute(r *gwv1.HTTPRoute) {
	defaultObject(r)
	r.Status = gwv1.HTTPRouteStatus{}
	defaultParentRefs(r.Spec.ParentRefs)
	if r.Spec.Rules == nil {
		r.Spec.Rules = []gwv1.HTTPRouteRule{{}}
	}
	for i := range r.Spec.Rules {
		rule := &r.Spec.Rules[i]
		if len(rule.Matches) == 0 {
			rule.Matches = []gwv1.HTTPRouteMatch{{}}
		}
		for j := range rule.Matches {
			defaultHTTPMatch(&rule.Matches[j])
		}
		defaultHTTPFilters(rule.Filters)
		for j := range rule.BackendRefs {
			defaultBackendRef(&rule.BackendRefs[j].BackendRef)
			defaultHTTPFilters(rule.BackendRefs[j].Filters)
		}
		defaultSessionPersistence(rule.SessionPersistence)
	}
}

func defaultGRPCRoute(r *gwv1.GRPCRoute) {
	defaultObject(r)
	r.Status = gwv1.GRPCRouteStatus{}
	defaultParentRefs(r.Spec.ParentRefs)
	for i := range r.Spec.Rules {
		rule := &r.Spec.Rules[i]
		for j := range rule.Matches {
			m := &rule.Matches[j]
			if m.Method != nil && m.Method.Type == nil {
				m.Method.Type = ptr(gwv1.GRPCMethodMatchExact)
			}
			for k := range m.Headers {
				if m.Headers[k].Type == nil {
					m.Headers[k].Type = ptr(gwv1.GRPCHeaderMatchExact)
				}
			}
		}
		defaultGRPCFilters(rule.Filters)
		for j := range rule.BackendRefs {
			defaultBackendRef(&rule.BackendRefs[j].BackendRef)
			defaultGRPCFilters(rule.BackendRefs[j].Filters)
		}
		defaultSessionPersistence(rule.SessionPersistence)
	}
}

func defaultParentRefs(refs []gwv1.ParentReference) {
	for i := range refs {
		if refs[i].Group == nil {
			refs[i].Group = ptr(gatewayGroup)
		}
		if refs[i].Kind == nil {
			refs[i].Kind = ptr(gatewayKind)
		}
	}
}

// defaultHTTPMatch makes a match without a path a PathPrefix match on "/".
func defaultHTTPMatch(m *gwv1.HTTPRouteMatch) {
	if m.Path == nil {
		m.Path = &gwv1.HTTPPathMatch{}
	}
	if m.Path.Type == nil {
		m.Path.Type = ptr(gwv1.PathMatchPathPrefix)
	}
	if m.Path.Value == nil {
		m.Path.Value = ptr("/")
	}
	for i := range m.Headers {
		if m.Headers[i].Type == nil {
			m.Headers[i].Type = ptr(gwv1.HeaderMatchExact)
		}
	}
	for i := range m.QueryParams {
		if m.QueryParams[i].Type == nil {
			m.QueryParams[i].Type = ptr(gwv1.QueryParamMatchExact)
		}
	}
}

func defaultHTTPFilters(filters []gwv1.HTTPRouteFilter) {
	for i := range filters {
		f := &filters[i]
		if f.RequestRedirect != nil && f.RequestRedirect.StatusCode == nil {
			f.RequestRedirect.StatusCode = ptr(302)
		}
		defaultMirror(f.RequestMirror)
		if f.CORS != nil && f.CORS.MaxAge == 0 {
			f.CORS.MaxAge = 5
		}
		if f.ExternalAuth != nil {
			defaultObjectRef(&f.ExternalAuth.BackendRef)
		}
	}
}

func defaultGRPCFilters(filters []gwv1.GRPCRouteFilter) {
	for i := range filters {
		defaultMirror(filters[i].RequestMirror)
	}
}

func defaultMirror(m *gwv1.HTTPRequestMirrorFilter) {
	if m == nil {
		return
	}
	defaultObjectRef(&m.BackendRef)
	if m.Fraction != nil && m.Fraction.Denominator == nil {
		m.Fraction.Denominator = ptr[int32](100)
	}
}

func defaultBackendRef(b *gwv1.BackendRef) {
	defaultObjectRef(&b.BackendObjectReference)
	if b.Weight == nil {
		b.Weight = ptr[int32](1)
	}
}

func defaultObjectRef(b *gwv1.BackendObjectReference) {
	if b.Group == nil {
		b.Group = ptr(gwv1.Group(""))
	}
	if b.Kind == nil {
		b.Kind = ptr(serviceKind)
	}
}

func defaultSessionPersistence(sp *gwv1.SessionPersistence) {
	if sp == nil {
		return
	}
	if sp.Type == nil {
		sp.Type = ptr(gwv1.CookieBasedSessionPersistence)
	}
	if sp.CookieConfig != nil && sp.CookieConfig.LifetimeType == nil {
		sp.CookieConfig.LifetimeType = ptr(gwv1.SessionCookieLifetimeType)
	}
}

func ptr[T any](v T) *T { return &v }
