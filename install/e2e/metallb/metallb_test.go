package metallb

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// decode splits a YAML stream into its objects, each decoded strictly
// enough to fail on a bad document.
func decode(t *testing.T, stream []byte) []*unstructured.Unstructured {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatalf("document %d: %v\n%s", len(objs)+1, err, doc)
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
			t.Fatalf("document %d lacks apiVersion, kind or name:\n%s", len(objs)+1, doc)
		}
		objs = append(objs, u)
	}
}

func stripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
		}
	}
	return out
}

func key(u *unstructured.Unstructured) string {
	if ns := u.GetNamespace(); ns != "" {
		return u.GetKind() + " " + ns + "/" + u.GetName()
	}
	return u.GetKind() + " " + u.GetName()
}

func TestComponents(t *testing.T) {
	objs := decode(t, Components())
	var got []string
	for _, u := range objs {
		got = append(got, key(u))
	}
	want := []string{
		"Namespace metallb-system",
		"CustomResourceDefinition bfdprofiles.metallb.io",
		"CustomResourceDefinition bgpadvertisements.metallb.io",
		"CustomResourceDefinition bgppeers.metallb.io",
		"CustomResourceDefinition communities.metallb.io",
		"CustomResourceDefinition configurationstates.metallb.io",
		"CustomResourceDefinition ipaddresspools.metallb.io",
		"CustomResourceDefinition l2advertisements.metallb.io",
		"CustomResourceDefinition servicebgpstatuses.metallb.io",
		"CustomResourceDefinition servicel2statuses.metallb.io",
		"ServiceAccount metallb-system/controller",
		"ServiceAccount metallb-system/speaker",
		"Role metallb-system/controller",
		"Role metallb-system/pod-lister",
		"ClusterRole metallb-system:controller",
		"ClusterRole metallb-system:speaker",
		"RoleBinding metallb-system/controller",
		"RoleBinding metallb-system/pod-lister",
		"ClusterRoleBinding metallb-system:controller",
		"ClusterRoleBinding metallb-system:speaker",
		"ConfigMap metallb-system/metallb-excludel2",
		"Deployment metallb-system/controller",
		"DaemonSet metallb-system/speaker",
	}
	if !slices.Equal(got, want) {
		t.Errorf("objects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, u := range objs {
		if strings.Contains(u.GetKind(), "Webhook") {
			t.Errorf("%s: the controller runs with its webhook disabled", key(u))
		}
		if u.GetNamespace() != "" && u.GetNamespace() != Namespace {
			t.Errorf("%s: outside %s", key(u), Namespace)
		}
	}

	t.Run("workloads", func(t *testing.T) {
		for _, tt := range []struct {
			kind, name, image string
			wantArgs          []string
			hostNetwork       bool
		}{
			{"Deployment", "controller", "weft.dev/e2e/metallb-controller:" + Version, []string{"--port=9120", "--log-level=info", "--webhook-mode=disabled"}, false},
			{"DaemonSet", "speaker", "weft.dev/e2e/metallb-speaker:" + Version, []string{"--port=9120", "--log-level=info"}, true},
		} {
			u := find(t, objs, tt.kind, tt.name)
			containers, _, err := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			if err != nil || len(containers) != 1 {
				t.Fatalf("%s: containers %v (%v), want one", key(u), containers, err)
			}
			c := containers[0].(map[string]any)
			if c["image"] != tt.image || c["imagePullPolicy"] != "Never" {
				t.Errorf("%s: image %v, pull policy %v; want %s, Never (images are imported, there is no registry)", key(u), c["image"], c["imagePullPolicy"], tt.image)
			}
			args, _, _ := unstructured.NestedStringSlice(c, "args")
			if !slices.Equal(args, tt.wantArgs) {
				t.Errorf("%s: args %q, want %q", key(u), args, tt.wantArgs)
			}
			env, _, _ := unstructured.NestedSlice(c, "env")
			for _, e := range env {
				if n := e.(map[string]any)["name"].(string); strings.HasPrefix(n, "METALLB_ML_") || n == "METALLB_BGP_TYPE" {
					t.Errorf("%s: env %s: memberlist is off and BGP native (unused)", key(u), n)
				}
			}
			if mounts, _, _ := unstructured.NestedSlice(c, "volumeMounts"); tt.kind == "Deployment" && len(mounts) != 0 {
				t.Errorf("%s: volume mounts %v, want none (no webhook certificate)", key(u), mounts)
			}
			hostNetwork, _, _ := unstructured.NestedBool(u.Object, "spec", "template", "spec", "hostNetwork")
			if hostNetwork != tt.hostNetwork {
				t.Errorf("%s: hostNetwork %v, want %v", key(u), hostNetwork, tt.hostNetwork)
			}
			if sel, _, _ := unstructured.NestedStringMap(u.Object, "spec", "selector", "matchLabels"); sel["component"] != tt.name {
				t.Errorf("%s: selector %v", key(u), sel)
			}
		}
	})
	t.Run("addresses", func(t *testing.T) {
		// The CRDs' descriptions quote examples; every address the
		// objects themselves name must be loopback or the e2e ranges.
		for _, u := range objs {
			if u.GetKind() == "CustomResourceDefinition" {
				continue
			}
			checkAddresses(t, u)
		}
	})
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, u := range objs {
		if u.GetKind() == kind && u.GetName() == name {
			return u
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return nil
}

var addrRE = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(/\d{1,2})?\b`)

// checkAddresses fails for any IPv4 address or prefix in u outside
// 192.0.2.0/24, 198.18.0.0/15 and loopback: nothing in the e2e cluster
// targets another address.
func checkAddresses(t *testing.T, u *unstructured.Unstructured) {
	t.Helper()
	b, err := yaml.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	allowed := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("127.0.0.0/8")}
	for _, m := range addrRE.FindAllString(string(b), -1) {
		p, err := netip.ParsePrefix(m)
		if err != nil {
			a, aerr := netip.ParseAddr(m)
			if aerr != nil {
				t.Errorf("%s: %q is not an address", key(u), m)
				continue
			}
			p = netip.PrefixFrom(a, 32)
		}
		if !slices.ContainsFunc(allowed, func(a netip.Prefix) bool { return a.Bits() <= p.Bits() && a.Contains(p.Addr()) }) {
			t.Errorf("%s names %s, outside 192.0.2.0/24, 198.18.0.0/15 and loopback", key(u), m)
		}
	}
}

func TestPool(t *testing.T) {
	objs := decode(t, Pool())
	if len(objs) != 2 {
		t.Fatalf("%d objects, want an IPAddressPool and an L2Advertisement", len(objs))
	}
	pool, adv := find(t, objs, "IPAddressPool", "weft-e2e"), find(t, objs, "L2Advertisement", "weft-e2e")
	for _, u := range objs {
		if u.GetAPIVersion() != "metallb.io/v1beta1" || u.GetNamespace() != Namespace {
			t.Errorf("%s: %s in %q, want metallb.io/v1beta1 in %s", key(u), u.GetAPIVersion(), u.GetNamespace(), Namespace)
		}
		checkAddresses(t, u)
	}
	addrs, _, _ := unstructured.NestedStringSlice(pool.Object, "spec", "addresses")
	if !slices.Equal(addrs, []string{"192.0.2.240-192.0.2.250"}) {
		t.Errorf("pool addresses %q, want docs/e2e.md's 192.0.2.240-192.0.2.250", addrs)
	}
	lan := netip.MustParsePrefix("192.0.2.0/24")
	for _, r := range addrs {
		from, to, _ := strings.Cut(r, "-")
		a, err1 := netip.ParseAddr(from)
		b, err2 := netip.ParseAddr(to)
		if err1 != nil || err2 != nil || !lan.Contains(a) || !lan.Contains(b) || b.Less(a) {
			t.Errorf("range %q: want a range within 192.0.2.0/24", r)
		}
		// The node (.10) and the external client (.100) are not in it.
		for _, taken := range []string{"192.0.2.10", "192.0.2.100"} {
			if x := netip.MustParseAddr(taken); !x.Less(a) && !b.Less(x) {
				t.Errorf("range %q holds %s", r, taken)
			}
		}
	}
	pools, _, _ := unstructured.NestedStringSlice(adv.Object, "spec", "ipAddressPools")
	ifaces, _, _ := unstructured.NestedStringSlice(adv.Object, "spec", "interfaces")
	if !slices.Equal(pools, []string{"weft-e2e"}) || !slices.Equal(ifaces, []string{"weft-e2e-lan"}) {
		t.Errorf("L2Advertisement pools %q interfaces %q, want [weft-e2e] on [weft-e2e-lan]", pools, ifaces)
	}
}

// TestUpstream compares the objects taken unchanged with upstream's
// metallb-native.yaml, when the module is in the module cache
// (hack/e2eimages/metallb.sh puts it there); nothing is downloaded.
func TestUpstream(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skipf("go env GOMODCACHE: %v", err)
	}
	file := filepath.Join(strings.TrimSpace(string(out)), "go.universe.tf", "metallb@"+Version, "config", "manifests", "metallb-native.yaml")
	native, err := os.ReadFile(file)
	if err != nil {
		t.Skipf("MetalLB %s is not in the module cache (%v): run hack/e2eimages/metallb.sh", Version, err)
	}
	upstream := map[string]*unstructured.Unstructured{}
	for _, u := range decode(t, native) {
		upstream[key(u)] = u
	}
	changed := map[string]bool{"Deployment metallb-system/controller": true, "DaemonSet metallb-system/speaker": true}
	for _, u := range decode(t, Components()) {
		up, ok := upstream[key(u)]
		if !ok {
			t.Errorf("%s is not upstream's", key(u))
			continue
		}
		a, _ := yaml.Marshal(u.Object)
		b, _ := yaml.Marshal(up.Object)
		if !changed[key(u)] && !bytes.Equal(a, b) {
			t.Errorf("%s differs from upstream's %s", key(u), file)
		}
	}
}
