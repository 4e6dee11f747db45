package configdir

import (
	"strconv"

	"k8s.io/apimachinery/pkg/util/validation/field"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// filterField is one of a route filter's per-type fields: the CRDs
// require the field of the filter's type and forbid the others.
type filterField struct {
	typ, json string
	set       bool
}

// checkFilterFields applies the CRDs' "filter.x must be nil / must be
// specified" rules.
func checkFilterFields(path *field.Path, typ string, fields []filterField) field.ErrorList {
	var errs field.ErrorList
	for _, f := range fields {
		switch {
		case f.set && typ != f.typ:
			errs = append(errs, field.Invalid(path.Child(f.json), "",
				"filter."+f.json+" must be nil if the filter.type is not "+f.typ))
		case !f.set && typ == f.typ:
			errs = append(errs, field.Required(path.Child(f.json),
				"filter."+f.json+" must be specified for "+f.typ+" filter.type"))
		}
	}
	return errs
}

// noRepeats reports filter types that appear more than once, for the types
// the CRDs allow only once.
func noRepeats(path *field.Path, types []string, once ...string) field.ErrorList {
	var errs field.ErrorList
	seen := make(map[string]bool, len(types))
	for i, t := range types {
		for _, o := range once {
			if t == o && seen[t] {
				errs = append(errs, field.Invalid(path.Index(i).Child("type"), t, t+" filter cannot be repeated"))
			}
		}
		seen[t] = true
	}
	return errs
}

func validateHTTPFilters(path *field.Path, filters []gwv1.HTTPRouteFilter, matches []gwv1.HTTPRouteMatch) field.ErrorList {
	errs := maxItems(path, len(filters), 16)
	types := make([]string, len(filters))
	var redirect, rewrite bool
	for i := range filters {
		f := &filters[i]
		p := path.Index(i)
		typ := string(f.Type)
		types[i] = typ
		redirect = redirect || f.Type == gwv1.HTTPRouteFilterRequestRedirect
		rewrite = rewrite || f.Type == gwv1.HTTPRouteFilterURLRewrite
		errs = append(errs, oneOf(p.Child("type"), typ, "RequestHeaderModifier", "ResponseHeaderModifier",
			"RequestMirror", "RequestRedirect", "URLRewrite", "ExtensionRef", "CORS")...)
		errs = append(errs, checkFilterFields(p, typ, []filterField{
			{"RequestHeaderModifier", "requestHeaderModifier", f.RequestHeaderModifier != nil},
			{"ResponseHeaderModifier", "responseHeaderModifier", f.ResponseHeaderModifier != nil},
			{"RequestMirror", "requestMirror", f.RequestMirror != nil},
			{"RequestRedirect", "requestRedirect", f.RequestRedirect != nil},
			{"URLRewrite", "urlRewrite", f.URLRewrite != nil},
			{"CORS", "cors", f.CORS != nil},
			{"ExternalAuth", "externalAuth", f.ExternalAuth != nil},
			{"ExtensionRef", "extensionRef", f.ExtensionRef != nil},
		})...)
		errs = append(errs, validateHeaderFilter(p.Child("requestHeaderModifier"), f.RequestHeaderModifier)...)
		errs = append(errs, validateHeaderFilter(p.Child("responseHeaderModifier"), f.ResponseHeaderModifier)...)
		errs = append(errs, validateMirror(p.Child("requestMirror"), f.RequestMirror)...)
		errs = append(errs, validateExtensionRef(p.Child("extensionRef"), f.ExtensionRef)...)
		if r := f.RequestRedirect; r != nil {
			rp := p.Child("requestRedirect")
			if r.Scheme != nil {
				errs = append(errs, oneOf(rp.Child("scheme"), *r.Scheme, "http", "https")...)
			}
			errs = append(errs, validatePreciseHostname(rp.Child("hostname"), r.Hostname)...)
			errs = append(errs, validatePathModifier(rp.Child("path"), "RequestRedirect", r.Path, matches)...)
			errs = append(errs, validatePort(rp.Child("port"), r.Port)...)
			if r.StatusCode != nil {
				errs = append(errs, oneOf(rp.Child("statusCode"), strconv.Itoa(*r.StatusCode), "301", "302", "303", "307", "308")...)
			}
		}
		if r := f.URLRewrite; r != nil {
			rp := p.Child("urlRewrite")
			errs = append(errs, validatePreciseHostname(rp.Child("hostname"), r.Hostname)...)
			errs = append(errs, validatePathModifier(rp.Child("path"), "URLRewrite", r.Path, matches)...)
		}
	}
	if redirect && rewrite {
		errs = append(errs, field.Invalid(path, "",
			"May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both"))
	}
	return append(errs, noRepeats(path, types, "CORS", "RequestHeaderModifier", "ResponseHeaderModifier",
		"RequestRedirect", "URLRewrite")...)
}

func validateGRPCFilters(path *field.Path, filters []gwv1.GRPCRouteFilter) field.ErrorList {
	errs := maxItems(path, len(filters), 16)
	types := make([]string, len(filters))
	for i := range filters {
		f := &filters[i]
		p := path.Index(i)
		typ := string(f.Type)
		types[i] = typ
		errs = append(errs, oneOf(p.Child("type"), typ,
			"ResponseHeaderModifier", "RequestHeaderModifier", "RequestMirror", "ExtensionRef")...)
		errs = append(errs, checkFilterFields(p, typ, []filterField{
			{"RequestHeaderModifier", "requestHeaderModifier", f.RequestHeaderModifier != nil},
			{"ResponseHeaderModifier", "responseHeaderModifier", f.ResponseHeaderModifier != nil},
			{"RequestMirror", "requestMirror", f.RequestMirror != nil},
			{"ExtensionRef", "extensionRef", f.ExtensionRef != nil},
		})...)
		errs = append(errs, validateHeaderFilter(p.Child("requestHeaderModifier"), f.RequestHeaderModifier)...)
		errs = append(errs, validateHeaderFilter(p.Child("responseHeaderModifier"), f.ResponseHeaderModifier)...)
		errs = append(errs, validateMirror(p.Child("requestMirror"), f.RequestMirror)...)
		errs = append(errs, validateExtensionRef(p.Child("extensionRef"), f.ExtensionRef)...)
	}
	return append(errs, noRepeats(path, types, "RequestHeaderModifier", "ResponseHeaderModifier")...)
}

func validateHeaderFilter(path *field.Path, h *gwv1.HTTPHeaderFilter) field.ErrorList {
	if h == nil {
		return nil
	}
	var errs field.ErrorList
	for _, list := range []struct {
		name    string
		headers []gwv1.HTTPHeader
	}{{"set", h.Set}, {"add", h.Add}} {
		lp := path.Child(list.name)
		errs = append(errs, maxItems(lp, len(list.headers), 16)...)
		seen := make(map[gwv1.HTTPHeaderName]bool, len(list.headers))
		for i, hdr := range list.headers {
			errs = append(errs, matchPattern(lp.Index(i).Child("name"), string(hdr.Name), 256, headerNamePattern)...)
			if seen[hdr.Name] {
				errs = append(errs, field.Duplicate(lp.Index(i).Child("name"), string(hdr.Name)))
			}
			seen[hdr.Name] = true
			errs = append(errs, length(lp.Index(i).Child("value"), hdr.Value, 1, 4096)...)
		}
	}
	rp := path.Child("remove")
	errs = append(errs, maxItems(rp, len(h.Remove), 16)...)
	seen := make(map[string]bool, len(h.Remove))
	for i, name := range h.Remove {
		if seen[name] {
			errs = append(errs, field.Duplicate(rp.Index(i), name))
		}
		seen[name] = true
	}
	return errs
}

func validateMirror(path *field.Path, m *gwv1.HTTPRequestMirrorFilter) field.ErrorList {
	if m == nil {
		return nil
	}
	errs := validateObjectRef(path.Child("backendRef"), &m.BackendRef)
	if m.Percent != nil && (*m.Percent < 0 || *m.Percent > 100) {
		errs = append(errs, field.Invalid(path.Child("percent"), *m.Percent, "must be between 0 and 100"))
	}
	if f := m.Fraction; f != nil {
		den := deref0(f.Denominator)
		switch {
		case f.Numerator < 0:
			errs = append(errs, field.Invalid(path.Child("fraction", "numerator"), f.Numerator, "must be at least 0"))
		case den < 1:
			errs = append(errs, field.Invalid(path.Child("fraction", "denominator"), den, "must be at least 1"))
		case f.Numerator > den:
			errs = append(errs, field.Invalid(path.Child("fraction"), "", "numerator must be less than or equal to denominator"))
		}
		if m.Percent != nil {
			errs = append(errs, field.Invalid(path, "", "Only one of percent or fraction may be specified in HTTPRequestMirrorFilter"))
		}
	}
	return errs
}

func validateExtensionRef(path *field.Path, r *gwv1.LocalObjectReference) field.ErrorList {
	if r == nil {
		return nil
	}
	errs := validateName(path.Child("name"), string(r.Name))
	return append(errs, validateGroupKind(path, &r.Group, &r.Kind)...)
}

func validatePreciseHostname(path *field.Path, h *gwv1.PreciseHostname) field.ErrorList {
	if h == nil {
		return nil
	}
	return matchPattern(path, string(*h), 253, preciseHostnamePattern)
}

// validatePathModifier checks the path of a RequestRedirect or URLRewrite
// filter; the matches are the rule's, after defaults.
func validatePathModifier(path *field.Path, filter string, m *gwv1.HTTPPathModifier, matches []gwv1.HTTPRouteMatch) field.ErrorList {
	if m == nil {
		return nil
	}
	errs := oneOf(path.Child("type"), string(m.Type), "ReplaceFullPath", "ReplacePrefixMatch")
	full, prefix := m.ReplaceFullPath != nil, m.ReplacePrefixMatch != nil
	switch {
	case m.Type == gwv1.FullPathHTTPPathModifier && !full:
		errs = append(errs, field.Required(path.Child("replaceFullPath"), "replaceFullPath must be specified when type is set to 'ReplaceFullPath'"))
	case m.Type == gwv1.PrefixMatchHTTPPathModifier && !prefix:
		errs = append(errs, field.Required(path.Child("replacePrefixMatch"), "replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'"))
	}
	if full && m.Type != gwv1.FullPathHTTPPathModifier {
		errs = append(errs, field.Invalid(path.Child("type"), string(m.Type), "type must be 'ReplaceFullPath' when replaceFullPath is set"))
	}
	if prefix && m.Type != gwv1.PrefixMatchHTTPPathModifier {
		errs = append(errs, field.Invalid(path.Child("type"), string(m.Type), "type must be 'ReplacePrefixMatch' when replacePrefixMatch is set"))
	}
	if full && len(*m.ReplaceFullPath) > 1024 {
		errs = append(errs, field.TooLong(path.Child("replaceFullPath"), "", 1024))
	}
	if prefix {
		if len(*m.ReplacePrefixMatch) > 1024 {
			errs = append(errs, field.TooLong(path.Child("replacePrefixMatch"), "", 1024))
		}
		if len(matches) != 1 || matches[0].Path == nil || deref0(matches[0].Path.Type) != gwv1.PathMatchPathPrefix {
			errs = append(errs, field.Invalid(path.Child("replacePrefixMatch"), *m.ReplacePrefixMatch,
				"When using "+filter+" filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified"))
		}
	}
	return errs
}
