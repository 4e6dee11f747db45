package main

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// configDump is the part of a sidecar's /config_dump the tables show: the
// Envoy v3 resources in protojson form, read by field name only, so that
// extensions weftctl does not know are shown, not refused.
type configDump struct {
	Listeners      []dumpListener    `json:"listeners"`
	Clusters       []dumpCluster     `json:"clusters"`
	Endpoints      []dumpAssignment  `json:"endpoints"`
	Routes         []dumpRouteConfig `json:"routes"`
	BoundAddresses map[string]string `json:"bound_addresses"`
}

type dumpAddress struct {
	SocketAddress struct {
		Address   string `json:"address"`
		PortValue uint32 `json:"portValue"`
	} `json:"socketAddress"`
}

func (a dumpAddress) String() string {
	if a.SocketAddress.Address == "" && a.SocketAddress.PortValue == 0 {
		return "-"
	}
	return net.JoinHostPort(a.SocketAddress.Address, strconv.Itoa(int(a.SocketAddress.PortValue)))
}

type dumpListener struct {
	Name         string            `json:"name"`
	Address      dumpAddress       `json:"address"`
	FilterChains []dumpFilterChain `json:"filterChains"`
	DefaultChain *dumpFilterChain  `json:"defaultFilterChain"`
}

type dumpFilterChain struct {
	Match struct {
		DestinationPort      uint32   `json:"destinationPort"`
		PrefixRanges         []cidr   `json:"prefixRanges"`
		TransportProtocol    string   `json:"transportProtocol"`
		ApplicationProtocols []string `json:"applicationProtocols"`
		ServerNames          []string `json:"serverNames"`
	} `json:"filterChainMatch"`
	Filters []struct {
		Name        string          `json:"name"`
		TypedConfig json.RawMessage `json:"typedConfig"`
	} `json:"filters"`
	TransportSocket json.RawMessage `json:"transportSocket"`
}

type cidr struct {
	AddressPrefix string `json:"addressPrefix"`
	PrefixLen     *int   `json:"prefixLen"`
}

// networkFilter is what the chain summary shows of a filter's config:
// tcp_proxy's cluster, http_connection_manager's routes.
type networkFilter struct {
	Type             string `json:"@type"`
	Cluster          string `json:"cluster"`
	WeightedClusters struct {
		Clusters []struct {
			Name string `json:"name"`
		} `json:"clusters"`
	} `json:"weightedClusters"`
	RDS struct {
		RouteConfigName string `json:"routeConfigName"`
	} `json:"rds"`
	RouteConfig *dumpRouteConfig `json:"routeConfig"`
}

type dumpRouteConfig struct {
	Name         string `json:"name"`
	VirtualHosts []struct {
		Name    string      `json:"name"`
		Domains []string    `json:"domains"`
		Routes  []dumpRoute `json:"routes"`
	} `json:"virtualHosts"`
}

type dumpRoute struct {
	Match struct {
		Prefix              string `json:"prefix"`
		Path                string `json:"path"`
		PathSeparatedPrefix string `json:"pathSeparatedPrefix"`
		SafeRegex           *struct {
			Regex string `json:"regex"`
		} `json:"safeRegex"`
		Headers []struct {
			Name string `json:"name"`
		} `json:"headers"`
	} `json:"match"`
	Route *struct {
		Cluster          string `json:"cluster"`
		WeightedClusters struct {
			Clusters []struct {
				Name   string `json:"name"`
				Weight *int   `json:"weight"`
			} `json:"clusters"`
		} `json:"weightedClusters"`
	} `json:"route"`
	DirectResponse *struct {
		Status int `json:"status"`
	} `json:"directResponse"`
	Redirect json.RawMessage `json:"redirect"`
}

type dumpCluster struct {
	Name             string `json:"name"`
	Type             string `json:"type"`
	EDSClusterConfig *struct {
		ServiceName string `json:"serviceName"`
	} `json:"edsClusterConfig"`
	LoadAssignment  *dumpAssignment `json:"loadAssignment"`
	TransportSocket json.RawMessage `json:"transportSocket"`
}

type dumpAssignment struct {
	ClusterName string `json:"clusterName"`
	Endpoints   []struct {
		LBEndpoints []struct {
			Endpoint struct {
				Address dumpAddress `json:"address"`
			} `json:"endpoint"`
			HealthStatus string `json:"healthStatus"`
			Weight       *int   `json:"loadBalancingWeight"`
		} `json:"lbEndpoints"`
	} `json:"endpoints"`
}

// table is kind's rows, the header first.
func (pc *proxyConfig) table(kind string, now time.Time) [][]string {
	switch kind {
	case "listeners":
		return pc.listenerRows()
	case "routes":
		return pc.routeRows()
	case "clusters":
		return pc.clusterRows()
	case "endpoints":
		return pc.endpointRows()
	default:
		return pc.secretRows(now)
	}
}

// listenerRows: one row per filter chain, the listener's columns on its
// first.
func (pc *proxyConfig) listenerRows() [][]string {
	rows := [][]string{{"NAME", "ADDRESS", "KIND", "CHAINS"}}
	for _, l := range pc.dump.Listeners {
		addr, kind := l.Address.String(), "virtual"
		if b, ok := pc.dump.BoundAddresses[l.Name]; ok {
			addr, kind = b, "bound"
		}
		chains := make([]string, 0, len(l.FilterChains)+1)
		for _, fc := range l.FilterChains {
			chains = append(chains, fc.summary())
		}
		if l.DefaultChain != nil {
			chains = append(chains, "default → "+l.DefaultChain.filters())
		}
		if len(chains) == 0 {
			chains = []string{"-"}
		}
		rows = append(rows, []string{l.Name, addr, kind, chains[0]})
		for _, c := range chains[1:] {
			rows = append(rows, []string{"", "", "", c})
		}
	}
	return rows
}

// summary is "<match> → <filters>", e.g. "tls :9000 → rbac, tcp inbound|9000".
func (fc dumpFilterChain) summary() string {
	var m []string
	if fc.Match.TransportProtocol != "" {
		m = append(m, fc.Match.TransportProtocol)
	}
	for _, p := range fc.Match.PrefixRanges {
		s := p.AddressPrefix
		if p.PrefixLen != nil {
			s += "/" + strconv.Itoa(*p.PrefixLen)
		}
		m = append(m, s)
	}
	if fc.Match.DestinationPort != 0 {
		m = append(m, ":"+strconv.Itoa(int(fc.Match.DestinationPort)))
	}
	if len(fc.Match.ApplicationProtocols) > 0 {
		m = append(m, "alpn="+strings.Join(fc.Match.ApplicationProtocols, ","))
	}
	if len(fc.Match.ServerNames) > 0 {
		m = append(m, "sni="+strings.Join(fc.Match.ServerNames, ","))
	}
	if len(fc.TransportSocket) > 0 {
		m = append(m, "mTLS")
	}
	if len(m) == 0 {
		m = []string{"*"}
	}
	return strings.Join(m, " ") + " → " + fc.filters()
}

// filters names the chain's filters, with the cluster or routes they lead
// to.
func (fc dumpFilterChain) filters() string {
	var out []string
	for _, f := range fc.Filters {
		var nf networkFilter
		_ = json.Unmarshal(f.TypedConfig, &nf)
		switch {
		case strings.HasSuffix(nf.Type, ".TcpProxy"):
			to := nf.Cluster
			if to == "" {
				for _, c := range nf.WeightedClusters.Clusters {
					to += c.Name + " "
				}
				to = strings.TrimSpace(to)
			}
			out = append(out, "tcp "+to)
		case strings.HasSuffix(nf.Type, ".HttpConnectionManager"):
			switch {
			case nf.RDS.RouteConfigName != "":
				out = append(out, "http routes "+nf.RDS.RouteConfigName)
			case nf.RouteConfig != nil:
				out = append(out, "http routes "+nf.RouteConfig.Name+" (inline)")
			default:
				out = append(out, "http")
			}
		case strings.HasSuffix(nf.Type, ".RBAC"):
			out = append(out, "rbac")
		default:
			out = append(out, f.Name)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ", ")
}

// routeRows: one row per route, in the order the proxy tries them: the
// route configurations sent by RDS, then those inline in a listener's
// http_connection_manager (named "<name> (inline)").
func (pc *proxyConfig) routeRows() [][]string {
	rows := [][]string{{"NAME", "VIRTUAL HOST", "DOMAINS", "MATCH", "ACTION"}}
	configs := slices.Clone(pc.dump.Routes)
	seen := map[string]bool{}
	for _, l := range pc.dump.Listeners {
		chains := l.FilterChains
		if l.DefaultChain != nil {
			chains = append(slices.Clone(chains), *l.DefaultChain)
		}
		for _, fc := range chains {
			for _, f := range fc.Filters {
				var nf networkFilter
				if json.Unmarshal(f.TypedConfig, &nf) != nil || nf.RouteConfig == nil || seen[nf.RouteConfig.Name] {
					continue
				}
				seen[nf.RouteConfig.Name] = true
				rc := *nf.RouteConfig
				rc.Name += " (inline)"
				configs = append(configs, rc)
			}
		}
	}
	for _, rc := range configs {
		for _, vh := range rc.VirtualHosts {
			domains := strings.Join(vh.Domains, ",")
			if len(vh.Routes) == 0 {
				rows = append(rows, []string{rc.Name, vh.Name, domains, "-", "-"})
			}
			for _, r := range vh.Routes {
				rows = append(rows, []string{rc.Name, vh.Name, domains, r.matchString(), r.actionString()})
			}
		}
	}
	return rows
}

func (r dumpRoute) matchString() string {
	var s string
	switch {
	case r.Match.Path != "":
		s = r.Match.Path
	case r.Match.PathSeparatedPrefix != "":
		s = r.Match.PathSeparatedPrefix + "/*"
	case r.Match.SafeRegex != nil:
		s = "~" + r.Match.SafeRegex.Regex
	default:
		s = r.Match.Prefix + "*"
	}
	if len(r.Match.Headers) > 0 {
		names := make([]string, 0, len(r.Match.Headers))
		for _, h := range r.Match.Headers {
			names = append(names, h.Name)
		}
		s += " [" + strings.Join(names, ",") + "]"
	}
	return s
}

func (r dumpRoute) actionString() string {
	switch {
	case r.Route != nil && r.Route.Cluster != "":
		return "→ " + r.Route.Cluster
	case r.Route != nil:
		var to []string
		for _, c := range r.Route.WeightedClusters.Clusters {
			w := ""
			if c.Weight != nil {
				w = fmt.Sprintf(" (%d)", *c.Weight)
			}
			to = append(to, c.Name+w)
		}
		return "→ " + strings.Join(to, ", ")
	case r.DirectResponse != nil:
		return fmt.Sprintf("direct response %d", r.DirectResponse.Status)
	case len(r.Redirect) > 0:
		return "redirect"
	}
	return "-"
}

// clusterRows: type, endpoint count and the SPIFFE IDs TLS verifies.
func (pc *proxyConfig) clusterRows() [][]string {
	rows := [][]string{{"NAME", "TYPE", "ENDPOINTS", "TLS"}}
	count := map[string]int{}
	for _, a := range pc.dump.Endpoints {
		count[a.ClusterName] += a.size()
	}
	for _, c := range pc.dump.Clusters {
		typ := c.Type
		if typ == "" {
			typ = "STATIC" // protojson leaves out the enum's zero value
		}
		eps := "-"
		switch {
		case typ == "EDS":
			name := c.Name
			if c.EDSClusterConfig != nil && c.EDSClusterConfig.ServiceName != "" {
				name = c.EDSClusterConfig.ServiceName
			}
			eps = strconv.Itoa(count[name])
		case c.LoadAssignment != nil:
			eps = strconv.Itoa(c.LoadAssignment.size())
		}
		rows = append(rows, []string{c.Name, typ, eps, tlsSummary(c.TransportSocket)})
	}
	return rows
}

func (a dumpAssignment) size() int {
	n := 0
	for _, l := range a.Endpoints {
		n += len(l.LBEndpoints)
	}
	return n
}

// tlsSummary is "-" without a transport socket, else "mTLS" and the
// SPIFFE IDs it names (the peers it accepts).
func tlsSummary(socket json.RawMessage) string {
	if len(socket) == 0 {
		return "-"
	}
	var ids []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if strings.HasPrefix(v, "spiffe://") && !slices.Contains(ids, v) {
				ids = append(ids, v)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	var v any
	_ = json.Unmarshal(socket, &v)
	walk(v)
	slices.Sort(ids)
	if len(ids) == 0 {
		return "TLS"
	}
	return "mTLS " + strings.Join(ids, ",")
}

// endpointRows: one row per endpoint.
func (pc *proxyConfig) endpointRows() [][]string {
	rows := [][]string{{"CLUSTER", "ADDRESS", "HEALTH", "WEIGHT"}}
	add := func(a dumpAssignment) {
		for _, l := range a.Endpoints {
			for _, e := range l.LBEndpoints {
				health := e.HealthStatus
				if health == "" {
					health = "UNKNOWN" // Envoy's default: routed to as healthy
				}
				weight := "1"
				if e.Weight != nil {
					weight = strconv.Itoa(*e.Weight)
				}
				rows = append(rows, []string{a.ClusterName, e.Endpoint.Address.String(), health, weight})
			}
		}
	}
	for _, a := range pc.dump.Endpoints {
		add(a)
	}
	// Static clusters carry their endpoints inline.
	for _, c := range pc.dump.Clusters {
		if c.LoadAssignment != nil && c.Type != "EDS" {
			a := *c.LoadAssignment
			if a.ClusterName == "" {
				a.ClusterName = c.Name
			}
			add(a)
		}
	}
	return rows
}

// secretRows: the workload certificate ("default", as Envoy's SDS names
// it) and each root of the trust bundle ("ROOTCA").
func (pc *proxyConfig) secretRows(now time.Time) [][]string {
	rows := [][]string{{"NAME", "SPIFFE ID", "SERIAL", "NOT AFTER", "REMAINING"}}
	if pc.certs == nil {
		return rows
	}
	remaining := func(t time.Time) string {
		if d := t.Sub(now); d > 0 {
			return humanDuration(d)
		}
		return "EXPIRED"
	}
	if len(pc.certs.Chain) > 0 {
		leaf := pc.certs.Chain[0]
		rows = append(rows, []string{"default", pc.certs.SPIFFEID, leaf.Serial, leaf.NotAfter.UTC().Format(time.RFC3339), remaining(leaf.NotAfter)})
	}
	for _, r := range pc.certs.Roots {
		rows = append(rows, []string{"ROOTCA", "spiffe://" + pc.certs.TrustDomain, r.Serial, r.NotAfter.UTC().Format(time.RFC3339), remaining(r.NotAfter)})
	}
	return rows
}
