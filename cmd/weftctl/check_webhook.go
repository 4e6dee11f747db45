package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/weftmesh/weft/injector"
)

// checkWebhook reports the CA root, whether the webhook configuration
// trusts it, the webhook's serving certificate, and whether the API server
// gets injected pods from the webhook.
func (c *checker) checkWebhook(ctx context.Context) []checkResult {
	out := []checkResult{c.checkCARoot(ctx)}
	what := "webhook configuration " + webhookConfigName + " trusts the CA root"
	mwc, err := c.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, webhookConfigName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return append(out,
			failed(what, "not found", installHint),
			failed("webhook injects pods", "no webhook configuration "+webhookConfigName, installHint))
	case err != nil:
		return append(out, failed(what, err.Error(), ""))
	}
	out = append(out, c.checkBundle(ctx, what, mwc))
	out = append(out, c.checkServingCert(ctx, mwc))
	return append(out, c.checkInjection(ctx))
}

func (c *checker) checkBundle(ctx context.Context, what string, mwc *admissionregistrationv1.MutatingWebhookConfiguration) checkResult {
	roots, err := c.caRoots(ctx)
	if err != nil {
		return failed(what, "the CA root is not readable: "+err.Error(), "")
	}
	if len(mwc.Webhooks) == 0 {
		return failed(what, "it has no webhooks", installHint)
	}
	hint := fmt.Sprintf(`the control plane writes the CA root into caBundle within seconds: check that it runs and logs "caBundle written" (kubectl -n %s logs deployment/%s)`, c.namespace, controlPlaneName)
	for _, w := range mwc.Webhooks {
		bundle, err := parseCertsPEM(w.ClientConfig.CABundle)
		if err != nil {
			return failed(what, fmt.Sprintf("webhook %s: caBundle: %v", w.Name, err), hint)
		}
		for _, r := range roots {
			if !slices.ContainsFunc(bundle, r.Equal) {
				return failed(what, fmt.Sprintf("webhook %s: caBundle lacks the CA root %q", w.Name, r.Subject.CommonName), hint)
			}
		}
	}
	return passed(what)
}

// checkServingCert reads the webhook's certificate with a TLS handshake, as
// the API server makes it: to the configuration's URL, or to a control
// plane pod behind its Service through a port-forward. The certificate is
// never stored in the cluster: the control plane issues it in memory from
// its CA.
func (c *checker) checkServingCert(ctx context.Context, mwc *admissionregistrationv1.MutatingWebhookConfiguration) checkResult {
	const what = "webhook serving certificate"
	if len(mwc.Webhooks) == 0 {
		return failed(what, "the configuration has no webhooks", installHint)
	}
	cc := mwc.Webhooks[0].ClientConfig
	var addr, serverName string
	switch {
	case cc.URL != nil:
		u, err := url.Parse(*cc.URL)
		if err != nil {
			return failed(what, fmt.Sprintf("webhook URL %q: %v", *cc.URL, err), "")
		}
		addr, serverName = u.Host, u.Hostname()
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "443")
		}
	case cc.Service != nil:
		local, stop, err := c.forwardToService(ctx, cc.Service)
		if err != nil {
			return failed(what, err.Error(), fmt.Sprintf("kubectl -n %s get pods,endpointslices -l app.kubernetes.io/name=%s", cc.Service.Namespace, cc.Service.Name))
		}
		defer stop()
		addr, serverName = local, cc.Service.Name+"."+cc.Service.Namespace+".svc"
	default:
		return failed(what, "the webhook has neither a URL nor a Service", installHint)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cc.CABundle)
	d := tls.Dialer{Config: &tls.Config{
		ServerName: serverName,
		RootCAs:    pool,
		MinVersion: tls.VersionTLS12,
		// Verified below, so that an invalid certificate is still read
		// and named.
		InsecureSkipVerify: true, //nolint:gosec // verified by hand against caBundle below
	}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return failed(what, fmt.Sprintf("TLS handshake with %s: %v", addr, err),
			fmt.Sprintf("check that the control plane runs: kubectl -n %s logs deployment/%s", c.namespace, controlPlaneName))
	}
	state := conn.(*tls.Conn).ConnectionState()
	_ = conn.Close()
	leaf := state.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, ic := range state.PeerCertificates[1:] {
		inter.AddCert(ic)
	}
	now := c.now()
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: serverName, Roots: pool, Intermediates: inter, CurrentTime: now}); err != nil {
		return failed(what, fmt.Sprintf("not valid for %s against the caBundle: %v", serverName, err),
			"the API server refuses it too: restart the control plane to have it reissued (kubectl -n "+c.namespace+" rollout restart deployment/"+controlPlaneName+")")
	}
	// The control plane reissues it at half its lifetime; one past three
	// quarters was not renewed.
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	if now.After(leaf.NotBefore.Add(life * 3 / 4)) {
		return failed(what, fmt.Sprintf("expires %s, in %s, and was not renewed at half its lifetime", leaf.NotAfter.UTC().Format(time.RFC3339), humanDuration(leaf.NotAfter.Sub(now))),
			"restart the control plane: kubectl -n "+c.namespace+" rollout restart deployment/"+controlPlaneName)
	}
	return passed(fmt.Sprintf("%s valid for %s until %s (%s)", what, serverName, leaf.NotAfter.UTC().Format(time.RFC3339), humanDuration(leaf.NotAfter.Sub(now))))
}

// forwardToService port-forwards to a ready pod behind a webhook's Service.
func (c *checker) forwardToService(ctx context.Context, ref *admissionregistrationv1.ServiceReference) (string, func(), error) {
	svc, err := c.cs.CoreV1().Services(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return "", nil, fmt.Errorf("reading Service %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	port := int32(443)
	if ref.Port != nil {
		port = *ref.Port
	}
	var target *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == port {
			target = &svc.Spec.Ports[i]
		}
	}
	if target == nil {
		return "", nil, fmt.Errorf("no port %[3]d in Service %[1]s/%[2]s, which the webhook names", ref.Namespace, ref.Name, port)
	}
	pods, err := c.cs.CoreV1().Pods(ref.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	if err != nil {
		return "", nil, fmt.Errorf("pods of Service %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	for _, p := range pods.Items {
		if !podReady(&p) {
			continue
		}
		podPort := target.TargetPort.IntValue()
		if podPort == 0 {
			podPort = namedPort(&p, target.TargetPort.String())
		}
		if podPort == 0 {
			podPort = int(port)
		}
		return portForward(ctx, c.cfg, p.Namespace, p.Name, podPort)
	}
	return "", nil, fmt.Errorf("no ready pod behind Service %s/%s", ref.Namespace, ref.Name)
}

func podReady(p *corev1.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func namedPort(p *corev1.Pod, name string) int {
	for _, ctr := range p.Spec.Containers {
		for _, cp := range ctr.Ports {
			if cp.Name == name {
				return int(cp.ContainerPort)
			}
		}
	}
	return 0
}

// checkInjection creates a pod with a server-side dry run in a namespace
// labelled for injection: the API server calls the webhook over TLS,
// trusting caBundle, exactly as for a real pod, and stores nothing.
func (c *checker) checkInjection(ctx context.Context) checkResult {
	what := "webhook injects pods"
	nss, err := c.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(labels.Set{injector.LabelInject: injector.InjectEnabled}).String(),
	})
	if err != nil {
		return failed(what, err.Error(), "")
	}
	if len(nss.Items) == 0 {
		return warned(what, "no namespace labelled "+injector.LabelInject+"="+injector.InjectEnabled+" to try it in",
			"kubectl label namespace NAME "+injector.LabelInject+"="+injector.InjectEnabled+", then run weftctl check again")
	}
	ns := nss.Items[0].Name
	what += " (dry-run Pod in namespace " + ns + ")"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "weftctl-check-", Namespace: ns, Labels: map[string]string{"app": "weftctl-check"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: "default",
			Containers:         []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
		},
	}
	got, err := c.cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		var status apierrors.APIStatus
		why := err.Error()
		if errors.As(err, &status) {
			why = status.Status().Message
		}
		return failed(what, why, fmt.Sprintf("the API server could not get the pod injected: check that the control plane runs (kubectl -n %s logs deployment/%s) and that its Service has endpoints", c.namespace, controlPlaneName))
	}
	if !hasProxy(got) {
		return failed(what, "the pod came back without the "+injector.ProxyContainerName+" container",
			"kubectl get mutatingwebhookconfiguration "+webhookConfigName+" -o yaml: its namespaceSelector and objectSelector must match the namespace and pod")
	}
	return passed(what)
}

// hasProxy tells whether pod has the sidecar, as a native sidecar (init
// container) or a container.
func hasProxy(pod *corev1.Pod) bool {
	for _, ctr := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		if ctr.Name == injector.ProxyContainerName {
			return true
		}
	}
	return false
}
