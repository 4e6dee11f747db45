package injector

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/proxy/status"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenCases are the representative workloads of the issue. Each
// testdata/<name>.yaml is injected; <name>.patch.json is the RFC 6902 patch
// from the original to the injected object, computed as the webhook
// computes it (admission.PatchResponseFromRaw), and <name>.injected.yaml the
// result, to read.
var goldenCases = []struct {
	name         string
	cfg          func(*Config)
	wantInjected bool
	wantSkipped  string
}{
	{name: "deployment-probes", wantInjected: true},
	{name: "job", wantInjected: true},
	{name: "pod-exclusions", wantInjected: true},
	{name: "pod-cni", cfg: func(c *Config) { c.CNI = true }, wantInjected: true},
	{name: "pod-tracing", cfg: func(c *Config) {
		c.Tracing = TracingConfig{OTLPEndpoint: "otel-collector.observability:4317", Sampling: 0.05}
	}, wantInjected: true},
	{name: "pod-injected", wantSkipped: "already injected"},
	{name: "pod-hostnetwork", wantSkipped: "hostNetwork"},
	{name: "pod-optout", wantSkipped: "opted out by label weft.dev/inject=disabled"},
}

// readGolden decodes testdata/<name>.yaml strictly into its typed object.
func readGolden(t *testing.T, name string) any {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var head struct{ Kind string }
	if err := yaml.Unmarshal(text, &head); err != nil {
		t.Fatal(err)
	}
	var obj any
	switch head.Kind {
	case "Pod":
		obj = &corev1.Pod{}
	case "Deployment":
		obj = &appsv1.Deployment{}
	case "Job":
		obj = &batchv1.Job{}
	default:
		t.Fatalf("%s: kind %q", name, head.Kind)
	}
	if err := yaml.UnmarshalStrict(text, obj); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return obj
}

// injectGolden injects obj (a *Pod through Inject, a workload through
// InjectPodSpec on its template) and returns the injected copy.
func injectGolden(t *testing.T, cfg Config, obj any) (any, Result) {
	t.Helper()
	switch o := obj.(type) {
	case *corev1.Pod:
		out, res, err := Inject(cfg, o)
		if err != nil {
			t.Fatalf("Inject: %v", err)
		}
		return out, res
	case *appsv1.Deployment:
		out := o.DeepCopy()
		res, err := InjectPodSpec(cfg, &out.Spec.Template.ObjectMeta, &out.Spec.Template.Spec)
		if err != nil {
			t.Fatalf("InjectPodSpec: %v", err)
		}
		return out, res
	case *batchv1.Job:
		out := o.DeepCopy()
		res, err := InjectPodSpec(cfg, &out.Spec.Template.ObjectMeta, &out.Spec.Template.Spec)
		if err != nil {
			t.Fatalf("InjectPodSpec: %v", err)
		}
		return out, res
	}
	t.Fatalf("type %T", obj)
	return nil, Result{}
}

func goldenConfig(mod func(*Config)) Config {
	cfg := DefaultConfig()
	cfg.ProxyImage = "example.com/weft-proxy:test"
	if mod != nil {
		mod(&cfg)
	}
	return cfg
}

func TestInjectGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := goldenConfig(tc.cfg)
			orig := readGolden(t, goldenInput(tc.name))
			origCopy := deepCopy(t, orig)
			injected, res := injectGolden(t, cfg, orig)
			if res.Injected != tc.wantInjected || res.Skipped != tc.wantSkipped {
				t.Errorf("result %+v, want Injected %v Skipped %q", res, tc.wantInjected, tc.wantSkipped)
			}
			if !equality.Semantic.DeepEqual(orig, origCopy) {
				t.Error("the input was modified")
			}
			origJSON := mustJSON(t, orig)
			injectedJSON := mustJSON(t, injected)
			resp := admission.PatchResponseFromRaw(origJSON, injectedJSON)
			if resp.Result != nil && resp.Result.Code != 0 {
				t.Fatalf("PatchResponseFromRaw: %v", resp.Result.Message)
			}
			// CreatePatch walks maps in random order: sort by path (the
			// operations touch disjoint paths, so order does not matter;
			// applying the sorted patch below checks it).
			sort.SliceStable(resp.Patches, func(i, j int) bool {
				return resp.Patches[i].Path < resp.Patches[j].Path
			})
			ops := make([]json.RawMessage, len(resp.Patches))
			for i, op := range resp.Patches {
				ops[i] = mustJSON(t, op)
			}
			patch := renderPatch(ops)

			// The patch must be exactly the difference.
			decoded, err := jsonpatch.DecodePatch(patch)
			if err != nil {
				t.Fatal(err)
			}
			patched, err := decoded.Apply(origJSON)
			if err != nil {
				t.Fatalf("applying the patch: %v", err)
			}
			if !jsonEqual(t, patched, injectedJSON) {
				t.Errorf("patch applied to the input is not the injected object:\n%s", patched)
			}
			if !tc.wantInjected && tc.wantSkipped != "hostNetwork" && len(resp.Patches) != 0 {
				t.Errorf("a skipped pod was patched: %s", patch)
			}

			injectedYAML, err := yaml.Marshal(injected)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.name+".patch.json", patch)
			checkGolden(t, tc.name+".injected.yaml", injectedYAML)
		})
	}
}

// TestInjectIdempotent injects every golden input twice: the second
// injection, also of the injected object as the API server stores it (a
// JSON round trip), changes nothing.
func TestInjectIdempotent(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := goldenConfig(tc.cfg)
			once, _ := injectGolden(t, cfg, readGolden(t, goldenInput(tc.name)))
			twice, res := injectGolden(t, cfg, once)
			if res.Injected {
				t.Errorf("second injection injected again: %+v", res)
			}
			if !reflect.DeepEqual(once, twice) {
				t.Errorf("second injection changed the object:\n%s", diffYAML(t, once, twice))
			}
			stored := reflect.New(reflect.TypeOf(once).Elem()).Interface()
			if err := json.Unmarshal(mustJSON(t, once), stored); err != nil {
				t.Fatal(err)
			}
			again, _ := injectGolden(t, cfg, stored)
			if !bytes.Equal(mustJSON(t, again), mustJSON(t, once)) {
				t.Errorf("injecting the stored object changed it:\n%s", diffYAML(t, once, again))
			}
		})
	}
}

// goldenInput maps a case to its input file: pod-cni and pod-tracing
// reuse the exclusions pod with cni: true or tracing configured.
func goldenInput(name string) string {
	if name == "pod-cni" || name == "pod-tracing" {
		return "pod-exclusions"
	}
	return name
}

func renderPatch(ops []json.RawMessage) []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i, op := range ops {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n  ")
		b.Write(op)
	}
	if len(ops) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	return b.Bytes()
}

func checkGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", file)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./injector -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with -update and review the diff):\n%s", path, got)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var av, bv any
	if err := json.Unmarshal(a, &av); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &bv); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(av, bv)
}

func deepCopy(t *testing.T, obj any) any {
	t.Helper()
	out := reflect.New(reflect.TypeOf(obj).Elem()).Interface()
	if err := json.Unmarshal(mustJSON(t, obj), out); err != nil {
		t.Fatal(err)
	}
	return out
}

func diffYAML(t *testing.T, a, b any) string {
	t.Helper()
	ya, _ := yaml.Marshal(a)
	yb, _ := yaml.Marshal(b)
	return "first:\n" + string(ya) + "\nsecond:\n" + string(yb)
}

// TestAppProbesProxyContract checks that the proxy's status port accepts
// the probe table of every golden pod, entry for entry.
func TestAppProbesProxyContract(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			injected, _ := injectGolden(t, goldenConfig(tc.cfg), readGolden(t, goldenInput(tc.name)))
			var spec corev1.PodSpec
			switch o := injected.(type) {
			case *corev1.Pod:
				spec = o.Spec
			case *appsv1.Deployment:
				spec = o.Spec.Template.Spec
			case *batchv1.Job:
				spec = o.Spec.Template.Spec
			}
			var text string
			for _, c := range spec.InitContainers {
				for _, e := range c.Env {
					if c.Name == ProxyContainerName && e.Name == AppProbesEnv {
						text = e.Value
					}
				}
			}
			var ours map[string]AppProbe
			if text != "" {
				if err := json.Unmarshal([]byte(text), &ours); err != nil {
					t.Fatal(err)
				}
			}
			theirs, err := status.ParseProbes(text)
			if err != nil {
				t.Fatalf("the proxy refuses %s=%s: %v", AppProbesEnv, text, err)
			}
			if len(theirs) != len(ours) {
				t.Errorf("the proxy reads %d probes, the injector wrote %d", len(theirs), len(ours))
			}
			for path, p := range ours {
				q := theirs[path]
				switch {
				case p.HTTPGet != nil:
					if q.HTTPGet == nil || int32(q.HTTPGet.Port) != p.HTTPGet.Port || q.HTTPGet.Path != p.HTTPGet.Path || q.HTTPGet.Scheme != p.HTTPGet.Scheme || len(q.HTTPGet.HTTPHeaders) != len(p.HTTPGet.HTTPHeaders) {
						t.Errorf("%s: proxy reads %+v, injector wrote %+v", path, q.HTTPGet, p.HTTPGet)
					}
				case p.GRPC != nil:
					if q.GRPC == nil || int32(q.GRPC.Port) != p.GRPC.Port || q.GRPC.Service != p.GRPC.Service {
						t.Errorf("%s: proxy reads %+v, injector wrote %+v", path, q.GRPC, p.GRPC)
					}
				}
				if int32(q.TimeoutSeconds) != p.TimeoutSeconds {
					t.Errorf("%s: timeout %d, injector wrote %d", path, q.TimeoutSeconds, p.TimeoutSeconds)
				}
			}
		})
	}
}
