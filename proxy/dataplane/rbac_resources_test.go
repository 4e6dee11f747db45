package dataplane_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	httprbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	netrbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/weftmesh/weft/proxy/dataplane"
)

// The builders below make the RBAC filters of docs/xds.md "Authorization".

const otherID = "spiffe://cluster.local/ns/default/sa/other"

func httpRBAC(t *testing.T, action rbacv3.RBAC_Action, policies map[string]*rbacv3.Policy) *hcmv3.HttpFilter {
	t.Helper()
	return &hcmv3.HttpFilter{
		Name:       "envoy.filters.http.rbac",
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &httprbacv3.RBAC{Rules: &rbacv3.RBAC{Action: action, Policies: policies}})},
	}
}

func netRBAC(t *testing.T, statPrefix string, action rbacv3.RBAC_Action, policies map[string]*rbacv3.Policy) *listenerv3.Filter {
	t.Helper()
	return &listenerv3.Filter{
		Name: "envoy.filters.network.rbac",
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, &netrbacv3.RBAC{
			StatPrefix: statPrefix, Rules: &rbacv3.RBAC{Action: action, Policies: policies},
		})},
	}
}

// chainHCM returns the HTTP connection manager of a listener's first chain.
func chainHCM(t *testing.T, l *listenerv3.Listener) *hcmv3.HttpConnectionManager {
	t.Helper()
	var h hcmv3.HttpConnectionManager
	must(t, l.FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(&h))
	return &h
}

// withRBAC puts filters before the router of l's first chain, and an
// access log to logPath when it is not empty.
func withRBAC(t *testing.T, l *listenerv3.Listener, logPath string, filters ...*hcmv3.HttpFilter) *listenerv3.Listener {
	t.Helper()
	h := chainHCM(t, l)
	h.HttpFilters = append(filters, h.HttpFilters...)
	if logPath != "" {
		h.AccessLog = []*accesslogv3.AccessLog{{
			Name:       "envoy.access_loggers.file",
			ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(t, &filev3.FileAccessLog{Path: logPath})},
		}}
	}
	setHCM(t, l, h)
	return l
}

func policy(perms []*rbacv3.Permission, ids ...*rbacv3.Principal) *rbacv3.Policy {
	return &rbacv3.Policy{Permissions: perms, Principals: ids}
}

func perms(ps ...*rbacv3.Permission) []*rbacv3.Permission { return ps }

func anyPermission() *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_Any{Any: true}}
}

func anyPrincipal() *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Any{Any: true}}
}

func strMatch(kind, v string, ignoreCase bool) *matcherv3.StringMatcher {
	m := &matcherv3.StringMatcher{IgnoreCase: ignoreCase}
	switch kind {
	case "exact":
		m.MatchPattern = &matcherv3.StringMatcher_Exact{Exact: v}
	case "prefix":
		m.MatchPattern = &matcherv3.StringMatcher_Prefix{Prefix: v}
	case "suffix":
		m.MatchPattern = &matcherv3.StringMatcher_Suffix{Suffix: v}
	}
	return m
}

func urlPath(kind, v string, ignoreCase bool) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_UrlPath{UrlPath: &matcherv3.PathMatcher{
		Rule: &matcherv3.PathMatcher_Path{Path: strMatch(kind, v, ignoreCase)}}}}
}

func methodIs(m string) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_Header{Header: &routev3.HeaderMatcher{
		Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: strMatch("exact", m, false)}}}}
}

func andRules(ps ...*rbacv3.Permission) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_AndRules{AndRules: &rbacv3.Permission_Set{Rules: ps}}}
}

func orRules(ps ...*rbacv3.Permission) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_OrRules{OrRules: &rbacv3.Permission_Set{Rules: ps}}}
}

func principal(id string) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Authenticated_{Authenticated: &rbacv3.Principal_Authenticated{
		PrincipalName: strMatch("exact", id, false)}}}
}

// accessEntry is the part of an access log line the RBAC tests check.
type accessEntry struct {
	Code        int    `json:"response_code"`
	Flags       string `json:"response_flags"`
	Path        string `json:"path"`
	PeerID      string `json:"peer_id"`
	AuthzPolicy string `json:"authz_policy"`
	AuthzReason string `json:"authz_reason"`
	AuthzAudit  string `json:"authz_audit"`
}

// readAccessLog returns the entries of the access log at path.
func readAccessLog(t *testing.T, path string) []accessEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []accessEntry
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		var e accessEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// logBuffer collects JSON log lines, for tests that check what the proxy
// logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// logTo sends a dataplane's log to logs as JSON; nil logs changes nothing.
func logTo(logs *logBuffer) func(*dataplane.Config) {
	return func(c *dataplane.Config) {
		if logs != nil {
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
}

// find returns the logged records whose msg is msg.
func (b *logBuffer) find(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(b.buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// countingBackend is a TCP server that counts the connections it accepts,
// greets each with "echo:" and echoes until EOF.
type countingBackend struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
}

func startCountingBackend(t *testing.T) *countingBackend {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	must(t, err)
	b := &countingBackend{ln: ln}
	b.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			b.wg.Go(func() {
				defer c.Close()
				if _, err := c.Write([]byte("echo:")); err != nil {
					return
				}
				buf := make([]byte, 1024)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		b.wg.Wait()
	})
	return b
}
