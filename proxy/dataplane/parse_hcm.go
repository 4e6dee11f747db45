package dataplane

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weftmesh/weft/proxy/httpguard"
	"github.com/weftmesh/weft/proxy/httpproxy"
	"github.com/weftmesh/weft/proxy/rbac"
	"github.com/weftmesh/weft/proxy/route"
)

// routerFilter is the HTTP filter that ends http_filters.
const routerFilter = "envoy.filters.http.router"

// hcmTypeURL is the typed_config of an HTTP connection manager filter.
var hcmTypeURL = "type.googleapis.com/" + string((&hcmv3.HttpConnectionManager{}).ProtoReflect().Descriptor().FullName())

// parseHCM checks an HttpConnectionManager and returns what the HTTP proxy
// serves the listener with: stat_prefix, codec_type, routes over RDS (ADS)
// or inline, and http_filters: RBAC filters, then the router.
func (d *Dataplane) parseHCM(p *problems, path string, a *anypb.Any, lc *listenerConfig) *httpproxy.Listener {
	var hcm hcmv3.HttpConnectionManager
	if !unpackTyped(p, path, a, &hcm) {
		return nil
	}
	p.OnlyFields(path, &hcm, "codec_type", "stat_prefix", "rds", "route_config", "http_filters",
		"access_log", "max_request_headers_kb", "common_http_protocol_options",
		"use_remote_address", "xff_num_trusted_hops", "forward_client_cert_details", "generate_request_id", "preserve_external_request_id")
	hl := &httpproxy.Listener{Name: lc.name, Direction: lc.direction}
	hl.Edge = parseEdge(p, path, &hcm) // gateway_hcm.go
	hl.Limits = parseHeaderLimits(p, path, &hcm)
	hl.AccessLog = parseAccessLogs(p, field(path, "access_log"), hcm.GetAccessLog())
	switch hcm.GetCodecType() {
	case hcmv3.HttpConnectionManager_AUTO:
		hl.Codec = httpproxy.CodecAuto
	case hcmv3.HttpConnectionManager_HTTP1:
		hl.Codec = httpproxy.CodecHTTP1
	case hcmv3.HttpConnectionManager_HTTP2:
		hl.Codec = httpproxy.CodecHTTP2
	default:
		p.Addf(field(path, "codec_type"), "unsupported codec %s", hcm.GetCodecType())
	}

	switch rs := hcm.GetRouteSpecifier().(type) {
	case *hcmv3.HttpConnectionManager_Rds:
		if name := parseRDS(p, field(path, "rds"), rs.Rds); name != "" {
			hl.Router = d.rdsRouter(name)
		}
	case *hcmv3.HttpConnectionManager_RouteConfig:
		t, err := route.Compile(rs.RouteConfig)
		checkRouteClusters(p, field(path, "route_config"), rs.RouteConfig, d.currentClusters())
		if err != nil {
			p.Addf(field(path, "route_config"), "%v", err)
		} else {
			inline := routeTable{t}
			hl.Router = func() httpproxy.Router { return inline }
		}
	case nil:
		p.Addf(field(path, "rds"), "missing")
	}

	hl.Authz = parseHTTPFilters(p, field(path, "http_filters"), hcm.GetHttpFilters())
	return hl
}

// parseHTTPFilters checks http_filters: RBAC filters (at most one per
// action), then the router, last. It returns the RBAC filters.
func parseHTTPFilters(p *problems, path string, filters []*hcmv3.HttpFilter) *rbac.Chain {
	authz := &rbac.Chain{}
	router, unsupported := false, false
	for i, f := range filters {
		fpath := index(path, i)
		p.OnlyFields(fpath, f, "name", "typed_config")
		tpath := field(fpath, "typed_config")
		switch f.GetName() {
		case rbac.HTTPFilterName:
			if router {
				p.Addf(field(fpath, "name"), "%s must come before %s", rbac.HTTPFilterName, routerFilter)
			}
			parseHTTPRBAC(p, tpath, f.GetTypedConfig(), authz)
		case routerFilter:
			if i != len(filters)-1 {
				p.Addf(field(fpath, "name"), "%s must be the last HTTP filter", routerFilter)
			}
			router = true
			if tc := f.GetTypedConfig(); tc != nil {
				var rc routerv3.Router
				if unpackTyped(p, tpath, tc, &rc) {
					p.OnlyFields(tpath, &rc)
				}
			}
		default:
			unsupported = true
			p.Addf(field(fpath, "name"), "unsupported HTTP filter %q", f.GetName())
		}
	}
	if !router && !unsupported {
		p.Addf(path, "want %s last, got none", routerFilter)
	}
	return authz
}

// parseRDS checks that routes come over ADS and returns their name.
func parseRDS(p *problems, path string, rds *hcmv3.Rds) string {
	p.OnlyFields(path, rds, "config_source", "route_config_name")
	src := rds.GetConfigSource()
	if src == nil {
		p.Addf(field(path, "config_source"), "missing")
	} else {
		p.OnlyFields(field(path, "config_source"), src, "ads", "resource_api_version", "initial_fetch_timeout")
		if src.GetAds() == nil {
			p.Addf(field(path, "config_source.ads"), "missing")
		}
		if v := src.GetResourceApiVersion(); v != corev3.ApiVersion_AUTO && v != corev3.ApiVersion_V3 {
			p.Addf(field(path, "config_source.resource_api_version"), "unsupported version %s", v)
		}
	}
	name := rds.GetRouteConfigName()
	if name == "" {
		p.Addf(field(path, "route_config_name"), "missing")
	}
	return name
}

// Envoy's bounds on max_request_headers_kb.
const maxRequestHeadersKB = 8192

// parseHeaderLimits returns the HTTP/1 head limits of max_request_headers_kb
// and common_http_protocol_options.max_headers_count; unset fields keep
// httpguard's defaults (Envoy's: 60 KiB, 100 fields).
func parseHeaderLimits(p *problems, path string, hcm *hcmv3.HttpConnectionManager) httpguard.Limits {
	var lim httpguard.Limits
	if kb := hcm.GetMaxRequestHeadersKb(); kb != nil {
		if v := kb.GetValue(); v == 0 || v > maxRequestHeadersKB {
			p.Addf(field(path, "max_request_headers_kb"), "must be in [1, %d], got %d", maxRequestHeadersKB, v)
		} else {
			lim.MaxHeaderBytes = int(v) << 10
		}
	}
	if po := hcm.GetCommonHttpProtocolOptions(); po != nil {
		ppath := field(path, "common_http_protocol_options")
		p.OnlyFields(ppath, po, "max_headers_count")
		if n := po.GetMaxHeadersCount(); n != nil {
			if n.GetValue() == 0 {
				p.Addf(field(ppath, "max_headers_count"), "must be at least 1")
			} else {
				lim.MaxHeaderCount = int(min(n.GetValue(), 1<<20))
			}
		}
	}
	return lim
}
