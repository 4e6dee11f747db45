package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weftmesh/weft/controlplane/xds"
	"github.com/weftmesh/weft/meshid"
)

// checkProxies compares the injected pods with what the control plane's
// replicas say of their proxies: each running pod with the sidecar must be
// connected to one of them, without a refusal, and have acknowledged the
// latest configuration.
func (c *checker) checkProxies(ctx context.Context) []checkResult {
	const what = "proxies connected and in sync"
	statuses, err := c.proxyStatuses(ctx)
	if err != nil {
		return []checkResult{failed(what, "reading the control plane's /debug/proxies: "+err.Error(),
			fmt.Sprintf("check that the control plane runs: kubectl -n %s get pods; kubectl -n %s logs deployment/%s", c.namespace, c.namespace, controlPlaneName))}
	}
	byNode := map[string]xds.ProxyStatus{}
	for _, st := range statuses {
		// A proxy that reconnected may briefly have two streams: the
		// newer one counts.
		if old, ok := byNode[st.Node]; !ok || st.Since.After(old.Since) {
			byNode[st.Node] = st
		}
	}
	pods, err := c.cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return []checkResult{failed(what, "listing pods: "+err.Error(), "")}
	}
	var problems []string
	var first *corev1.Pod
	n := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		if !hasProxy(p) || p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		n++
		problem := ""
		st, ok := byNode[meshid.NodeID(p.Name, p.Namespace)]
		if !ok {
			problem = "not connected"
		} else {
			problem = syncProblem(st)
		}
		if problem != "" {
			problems = append(problems, p.Namespace+"/"+p.Name+" "+problem)
			if first == nil {
				first = p
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return []checkResult{failed(what, fmt.Sprintf("%d of %d: %s", len(problems), n, strings.Join(problems, "; ")),
			fmt.Sprintf("kubectl -n %[1]s logs %[2]s -c weft-proxy; weftctl proxy-config %[2]s -n %[1]s", first.Namespace, first.Name))}
	}
	return []checkResult{passed(fmt.Sprintf("%s (%d of %d)", what, n, n))}
}

// syncProblem says what is wrong with a connected proxy's configuration,
// "" when nothing is.
func syncProblem(st xds.ProxyStatus) string {
	if len(st.Nacked) > 0 {
		types := sortedKeys(st.Nacked)
		return fmt.Sprintf("refused %s: %s", shortType(types[0]), st.Nacked[types[0]])
	}
	if st.Latest == "" {
		return "has no configuration from the control plane yet"
	}
	if len(st.Acked) == 0 {
		return "has acknowledged no configuration yet (latest " + st.Latest + ")"
	}
	types := sortedKeys(st.Acked)
	if st.Variant == "delta" {
		// A delta type that did not change in a push gets no response,
		// so only the newest ACK must be the latest version.
		for _, t := range types {
			if st.Acked[t] == st.Latest {
				return ""
			}
		}
		return fmt.Sprintf("acknowledged %s, latest %s", st.Acked[types[0]], st.Latest)
	}
	for _, t := range types {
		if st.Acked[t] != st.Latest {
			return fmt.Sprintf("acknowledged %s %s, latest %s", shortType(t), st.Acked[t], st.Latest)
		}
	}
	return ""
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// shortType is "Listener" for "type.googleapis.com/envoy.config.listener.v3.Listener".
func shortType(typeURL string) string {
	return typeURL[strings.LastIndex(typeURL, ".")+1:]
}

// proxyStatuses reads /debug/proxies of every control-plane replica: a
// proxy is connected to one of them only.
func (c *checker) proxyStatuses(ctx context.Context) ([]xds.ProxyStatus, error) {
	var bodies [][]byte
	if len(c.controlPlaneURLs) > 0 {
		for _, u := range c.controlPlaneURLs {
			b, err := httpGet(ctx, u, "/debug/proxies")
			if err != nil {
				return nil, err
			}
			bodies = append(bodies, b)
		}
	} else {
		d, err := c.cs.AppsV1().Deployments(c.namespace).Get(ctx, controlPlaneName, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading Deployment %s/%s: %w", c.namespace, controlPlaneName, err)
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("selector of Deployment %s/%s: %w", c.namespace, controlPlaneName, err)
		}
		pods, err := c.cs.CoreV1().Pods(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return nil, err
		}
		for _, p := range pods.Items {
			if !podReady(&p) {
				continue
			}
			// Through the API server's pod proxy, as kubectl get --raw does.
			b, err := c.cs.CoreV1().Pods(p.Namespace).ProxyGet("http", p.Name, controlPlaneMonPort, "/debug/proxies", nil).DoRaw(ctx)
			if err != nil {
				return nil, fmt.Errorf("pod %s/%s: %w", p.Namespace, p.Name, err)
			}
			bodies = append(bodies, b)
		}
		if len(bodies) == 0 {
			return nil, fmt.Errorf("no ready pod of Deployment %s/%s", c.namespace, controlPlaneName)
		}
	}
	var all []xds.ProxyStatus
	for _, b := range bodies {
		var sts []xds.ProxyStatus
		if err := json.Unmarshal(b, &sts); err != nil {
			return nil, fmt.Errorf("/debug/proxies is not a list of proxies: %w", err)
		}
		all = append(all, sts...)
	}
	return all, nil
}

// httpGet fetches path from base, an http:// URL.
func httpGet(ctx context.Context, base, p string) ([]byte, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("control plane URL %q: %w", base, err)
	}
	u.Path = path.Join(u.Path, p)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading %s: %s", u, resp.Status)
	}
	return body, nil
}
