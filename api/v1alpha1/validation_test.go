package v1alpha1_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// TestValidatorsOnCases runs the shared table through the Go validators,
// as standalone mode does with a file from the config directory.
func TestValidatorsOnCases(t *testing.T) {
	for _, c := range policyCases {
		t.Run(c.kind+"/"+c.name, func(t *testing.T) {
			got := c.validate(t)
			if c.badDuration != "" {
				return // refused while decoding
			}
			c.check(t, "Go validation", got)
		})
	}
}

// TestValidatorsOnGoValues covers what YAML cannot say or the table does
// not: nil against empty lists, limits, duplicates, and several errors at
// once, each reported with its own path.
func TestValidatorsOnGoValues(t *testing.T) {
	int32p := func(v int32) *int32 { return &v }
	dur := func(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
	manyRules := make([]v1alpha1.AuthorizationRule, 65)
	manyPorts := make([]int32, 17)
	for i := range manyPorts {
		manyPorts[i] = int32(8000 + i)
	}
	selector := &v1alpha1.WorkloadSelector{MatchLabels: map[string]string{"app": "db"}}

	tests := []struct {
		name string
		errs field.ErrorList
		want []string // each error, as "path: detail substring", in order
	}{{
		name: "nil lists are absent, not empty",
		errs: v1alpha1.ValidateAuthorizationPolicy(&v1alpha1.AuthorizationPolicy{Spec: v1alpha1.AuthorizationPolicySpec{
			Action: v1alpha1.ActionDeny,
			Rules:  []v1alpha1.AuthorizationRule{{From: []v1alpha1.Source{{Principals: []string{"*"}}}}},
		}}),
	}, {
		name: "a present empty list is refused",
		errs: v1alpha1.ValidateAuthorizationPolicy(&v1alpha1.AuthorizationPolicy{Spec: v1alpha1.AuthorizationPolicySpec{
			Rules: []v1alpha1.AuthorizationRule{{To: []v1alpha1.Operation{{Methods: []string{}}}}},
		}}),
		want: []string{"spec.rules[0].to[0].methods: must not be an empty list"},
	}, {
		name: "65 rules",
		errs: v1alpha1.ValidateAuthorizationPolicy(&v1alpha1.AuthorizationPolicy{Spec: v1alpha1.AuthorizationPolicySpec{Rules: manyRules}}),
		want: []string{"spec.rules: must have at most 64 items"},
	}, {
		name: "every empty DENY rule is named",
		errs: v1alpha1.ValidateAuthorizationPolicy(&v1alpha1.AuthorizationPolicy{Spec: v1alpha1.AuthorizationPolicySpec{
			Action: v1alpha1.ActionDeny,
			Rules:  []v1alpha1.AuthorizationRule{{}, {When: []v1alpha1.Condition{{Header: "a", Values: []string{"b"}}}}, {}},
		}}),
		want: []string{
			"spec.rules[0]: a DENY or AUDIT rule must set from, to or when",
			"spec.rules[2]: a DENY or AUDIT rule must set from, to or when",
		},
	}, {
		name: "too long and too many",
		errs: v1alpha1.ValidateAuthorizationPolicy(&v1alpha1.AuthorizationPolicy{Spec: v1alpha1.AuthorizationPolicySpec{
			Rules: []v1alpha1.AuthorizationRule{{
				From: []v1alpha1.Source{{Namespaces: []string{strings.Repeat("a", 64)}}},
				To:   []v1alpha1.Operation{{Ports: manyPorts, NotPorts: []int32{0}}},
			}},
		}}),
		want: []string{
			"spec.rules[0].from[0].namespaces[0]: may not be more than 63 characters",
			"spec.rules[0].to[0].ports: must have at most 16 items",
			"spec.rules[0].to[0].notPorts[0]: must be a port number between 1 and 65535",
		},
	}, {
		name: "duplicate port-level port",
		errs: v1alpha1.ValidatePeerAuthentication(&v1alpha1.PeerAuthentication{Spec: v1alpha1.PeerAuthenticationSpec{
			Selector: selector,
			PortLevelMTLS: []v1alpha1.PortMutualTLS{
				{Port: 80, Mode: v1alpha1.MTLSStrict}, {Port: 80, Mode: v1alpha1.MTLSDisable},
			},
		}}),
		want: []string{"spec.portLevelMtls[1]: Duplicate value"},
	}, {
		name: "port-level mode left out",
		errs: v1alpha1.ValidatePeerAuthentication(&v1alpha1.PeerAuthentication{Spec: v1alpha1.PeerAuthenticationSpec{
			Selector: selector, PortLevelMTLS: []v1alpha1.PortMutualTLS{{Port: 80}},
		}}),
		want: []string{"spec.portLevelMtls[0].mode: Required value"},
	}, {
		name: "port-level without selector, present but empty",
		errs: v1alpha1.ValidatePeerAuthentication(&v1alpha1.PeerAuthentication{Spec: v1alpha1.PeerAuthenticationSpec{
			PortLevelMTLS: []v1alpha1.PortMutualTLS{},
		}}),
		want: []string{"spec.portLevelMtls: Forbidden: portLevelMtls needs a selector"},
	}, {
		name: "defaults left out are fine",
		errs: v1alpha1.ValidateTrafficPolicy(&v1alpha1.TrafficPolicy{Spec: v1alpha1.TrafficPolicySpec{
			TargetRef: v1alpha1.ServiceReference{Name: "web"},
			Timeout:   dur(0),
		}}),
	}, {
		name: "several traffic errors, each with its path",
		errs: v1alpha1.ValidateTrafficPolicy(&v1alpha1.TrafficPolicy{Spec: v1alpha1.TrafficPolicySpec{
			LoadBalancer:     &v1alpha1.LoadBalancer{},
			ConnectionPool:   &v1alpha1.ConnectionPool{MaxRetries: int32p(-1), ConnectTimeout: dur(-time.Second)},
			OutlierDetection: &v1alpha1.OutlierDetection{BaseEjectionTime: dur(0), MaxEjectionPercent: int32p(-1)},
			Retries:          &v1alpha1.Retries{Attempts: -1, RetryOn: []v1alpha1.RetryOn{}},
		}}),
		want: []string{
			"spec.targetRef.name: Required value",
			"spec.loadBalancer.algorithm: Required value",
			"spec.connectionPool.maxRetries: Invalid value: -1: should be greater than or equal to 0",
			`spec.connectionPool.connectTimeout: Invalid value: "-1s": must be a positive duration`,
			`spec.outlierDetection.baseEjectionTime: Invalid value: "0s": must be a positive duration`,
			"spec.outlierDetection.maxEjectionPercent: Invalid value: -1: must be between 0 and 100",
			"spec.retries.attempts: Invalid value: -1: must be between 0 and 10",
			"spec.retries.retryOn: Invalid value: must not be an empty list",
		},
	}, {
		name: "a long service name",
		errs: v1alpha1.ValidateTrafficPolicy(&v1alpha1.TrafficPolicy{Spec: v1alpha1.TrafficPolicySpec{
			TargetRef: v1alpha1.ServiceReference{Name: strings.Repeat("a", 64)},
		}}),
		want: []string{"spec.targetRef.name: Too long: may not be more than 63 characters"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(tt.errs), len(tt.want), lines(tt.errs))
			}
			for i, w := range tt.want {
				path, detail, _ := strings.Cut(w, ": ")
				if got := tt.errs[i]; got.Field != path || !strings.Contains(got.ErrorBody(), detail) {
					t.Errorf("error %d is %q, want %q", i, got.Error(), w)
				}
			}
		})
	}
}

// errText is the errors as one line, "" for none.
func errText(errs field.ErrorList) string {
	if len(errs) == 0 {
		return ""
	}
	return errs.ToAggregate().Error()
}

func lines(errs field.ErrorList) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintln(&b, e.Error())
	}
	return b.String()
}

// TestValueChecks pins the single-value rules at their edges; each value
// is put in a policy and checked through the exported validators.
func TestValueChecks(t *testing.T) {
	tests := []struct {
		field string // a Source or Operation list
		value string
		valid bool
	}{
		{"principals", "*", true},
		{"principals", "spiffe://td/ns/a/sa/b", true},
		{"principals", "*b", true},
		{"principals", "b*", true},
		{"principals", "**", false},
		{"principals", "a*b", false},
		{"principals", "spiffe://td/ns/a/sa/b.c+d", true}, // literal, not a regex
		{"namespaces", "kube-system", true},
		{"namespaces", "-a", false},
		{"namespaces", "A", false},
		{"serviceAccounts", "a", true},
		{"serviceAccounts", "ns/a.b", true},
		{"serviceAccounts", "/a", false},
		{"serviceAccounts", "ns/", false},
		{"serviceAccounts", "ns/a_b", false},
		{"ipBlocks", "10.0.0.1", true},
		{"ipBlocks", "10.0.0.1/32", true},
		{"ipBlocks", "10.0.0.1/8", true}, // host bits are allowed, as by isCIDR
		{"ipBlocks", "fe80::1", true},
		{"ipBlocks", "fe80::1%eth0", false},
		{"ipBlocks", "::ffff:10.0.0.0/104", false},
		{"ipBlocks", "010.0.0.1", false},
		{"ipBlocks", "10.0.0.0/-1", false},
		{"ipBlocks", "", false},
		{"methods", "GET", true},
		{"methods", "M-SEARCH", true},
		{"methods", "-GET", false},
		{"methods", "GET-", false},
		{"methods", "G3T", false},
		{"hosts", "example.com", true},
		{"hosts", "*.example.com", true},
		{"hosts", "*.", false},
		{"hosts", "*example.com", false},
		{"hosts", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.field+"="+tt.value, func(t *testing.T) {
			var rule v1alpha1.AuthorizationRule
			one := []string{tt.value}
			switch tt.field {
			case "principals":
				rule.From = []v1alpha1.Source{{Principals: one}}
			case "namespaces":
				rule.From = []v1alpha1.Source{{Namespaces: one}}
			case "serviceAccounts":
				rule.From = []v1alpha1.Source{{ServiceAccounts: one}}
			case "ipBlocks":
				rule.From = []v1alpha1.Source{{IPBlocks: one}}
			case "methods":
				rule.To = []v1alpha1.Operation{{Methods: one}}
			case "hosts":
				rule.To = []v1alpha1.Operation{{Hosts: one}}
			}
			errs := v1alpha1.ValidateAuthorizationPolicy(&v1alpha1.AuthorizationPolicy{
				Spec: v1alpha1.AuthorizationPolicySpec{Rules: []v1alpha1.AuthorizationRule{rule}},
			})
			if got := len(errs) == 0; got != tt.valid {
				t.Errorf("valid = %v, want %v; errors: %v", got, tt.valid, errs)
			}
		})
	}
}

// TestMessagesMatchTheCRDs checks that every message of the Go validators
// that stands for a CEL rule is, word for word, the message of a rule in
// install/crds: the markers spell them out again, and must not drift.
func TestMessagesMatchTheCRDs(t *testing.T) {
	var crdMessages []string
	files, err := filepath.Glob("../../install/crds/*.yaml")
	if err != nil || len(files) != 4 {
		t.Fatalf("install/crds holds %v (err %v), want one CRD per kind: run make generate", files, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		crdMessages = append(crdMessages, ruleMessages(doc)...)
	}
	for _, msg := range v1alpha1.CELMessages() {
		found := false
		for _, m := range crdMessages {
			found = found || m == msg
		}
		if !found {
			t.Errorf("no CEL rule in install/crds says %q; the markers and validation.go disagree", msg)
		}
	}
	if len(crdMessages) == 0 {
		t.Error("install/crds has no x-kubernetes-validations")
	}
}

// ruleMessages collects the message of every x-kubernetes-validations
// entry in a decoded YAML document.
func ruleMessages(doc any) []string {
	var out []string
	switch v := doc.(type) {
	case map[string]any:
		for k, child := range v {
			if k == "x-kubernetes-validations" {
				for _, r := range child.([]any) {
					if m, ok := r.(map[string]any)["message"].(string); ok {
						out = append(out, m)
					}
				}
				continue
			}
			out = append(out, ruleMessages(child)...)
		}
	case []any:
		for _, child := range v {
			out = append(out, ruleMessages(child)...)
		}
	}
	return out
}
