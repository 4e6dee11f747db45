package configdir

import (
	"strconv"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// The policies of mesh.weft.dev go into the mesh as written, after the
// defaults their CRDs declare: what `kubectl apply` of the same file would
// store. Their validation is the API package's, shared with the CRDs'
// schema, so that both modes refuse the same objects.

// defaultObject gives an object the namespace the API server would, since
// policies keep their metadata in the mesh.
func defaultObject(m metav1.Object) {
	if m.GetNamespace() == "" {
		m.SetNamespace(defaultNamespace)
	}
}

// Status is what controllers report, not what users ask for: the API
// server ignores it when an object is created, and so does Load.

func defaultPeerAuthentication(pa *v1alpha1.PeerAuthentication) {
	defaultObject(pa)
	pa.Status = v1alpha1.PolicyStatus{}
	if pa.Spec.MTLS != nil && pa.Spec.MTLS.Mode == "" {
		pa.Spec.MTLS.Mode = v1alpha1.MTLSUnset
	}
}

func defaultAuthorizationPolicy(ap *v1alpha1.AuthorizationPolicy) {
	defaultObject(ap)
	ap.Status = v1alpha1.PolicyStatus{}
	if ap.Spec.Action == "" {
		ap.Spec.Action = v1alpha1.ActionAllow
	}
}

func defaultTrafficPolicy(tp *v1alpha1.TrafficPolicy) {
	defaultObject(tp)
	tp.Status = v1alpha1.PolicyStatus{}
	if tp.Spec.TargetRef.Kind == "" {
		tp.Spec.TargetRef.Kind = "Service"
	}
}

func validatePeerAuthentication(doc document, _ spiffeid.TrustDomain, pa *v1alpha1.PeerAuthentication) []Problem {
	c := &checker{doc: doc}
	c.metadata(pa, validation.IsDNS1123Subdomain)
	c.fieldErrors(v1alpha1.ValidatePeerAuthentication(pa))
	return c.problems
}

func validateAuthorizationPolicy(doc document, _ spiffeid.TrustDomain, ap *v1alpha1.AuthorizationPolicy) []Problem {
	c := &checker{doc: doc}
	c.metadata(ap, validation.IsDNS1123Subdomain)
	c.fieldErrors(v1alpha1.ValidateAuthorizationPolicy(ap))
	return c.problems
}

func validateTrafficPolicy(doc document, _ spiffeid.TrustDomain, tp *v1alpha1.TrafficPolicy) []Problem {
	c := &checker{doc: doc}
	c.metadata(tp, validation.IsDNS1123Subdomain)
	c.fieldErrors(v1alpha1.ValidateTrafficPolicy(tp))
	return c.problems
}

// fieldErrors reports the errors of a Kubernetes-style validator, each at
// the line of its field.
func (c *checker) fieldErrors(errs field.ErrorList) {
	for _, e := range errs {
		c.problems = append(c.problems, c.doc.problem(fromFieldPath(e.Field), e.ErrorBody()))
	}
}

// fromFieldPath rewrites a field.Path string, such as
// "spec.selector.matchLabels[app.kubernetes.io/name]" or
// "spec.rules[0].from[1]", in this package's notation, which quotes keys
// that are not plain identifiers so that lineOf can follow them.
func fromFieldPath(s string) fieldPath {
	var p fieldPath
	for s != "" {
		if s[0] == '[' {
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return p + fieldPath(s) // not a field.Path: keep the rest as it is
			}
			inner := s[1:end]
			if i, err := strconv.Atoi(inner); err == nil && i >= 0 {
				p = p.index(i)
			} else {
				p = p.key(inner)
			}
			s = s[end+1:]
			continue
		}
		s = strings.TrimPrefix(s, ".")
		end := strings.IndexAny(s, ".[")
		if end < 0 {
			end = len(s)
		}
		if end > 0 {
			p = p.key(s[:end])
		}
		s = s[end:]
	}
	return p
}
