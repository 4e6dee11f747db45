package controlplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/client-go/kubernetes"

	"github.com/weftmesh/weft/controlplane/ca"
)

// Results of a CA reload, labels of weft_ca_reloads_total.
const (
	reloadChanged   = "changed"
	reloadUnchanged = "unchanged"
	reloadFailed    = "failed"
)

// loadCA builds the Authority: from the provided CA's files, from the
// root kept in the CA Secret (Kubernetes mode, created on first start,
// through kc), or from the root the state directory keeps (created on
// first start).
func (c *ControlPlane) loadCA(ctx context.Context, td spiffeid.TrustDomain, kc kubernetes.Interface) error {
	c.caReloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weft_ca_reloads_total",
		Help: "Times the CA's files were re-read, by result: changed (now in force), unchanged, failed (the CA kept what it had).",
	}, []string{"result"})
	if c.cfg.SecretCA() {
		ref, err := c.cfg.caSecretRef()
		if err != nil {
			return err
		}
		if c.authority, err = ca.LoadOrCreateSecret(ctx, kc, ref, td, time.Now); err != nil {
			return fmt.Errorf("certificate authority: %w", err)
		}
		c.registry.MustRegister(c.authority.Collectors()...)
		c.log.InfoContext(ctx, "certificate authority loaded", append(caAttrs(c.authority), "secret", ref.String())...)
		return nil
	}
	switch {
	case c.cfg.CADir != "":
		c.caFiles = ca.CertManagerFiles(c.cfg.CADir)
	case c.cfg.CACertFile != "":
		c.caFiles = ca.Files{CertFile: c.cfg.CACertFile, KeyFile: c.cfg.CAKeyFile, RootsFile: c.cfg.CABundleFile}
	default:
		if _, err := ca.LoadOrCreate(c.cfg.StateDir, td, time.Now); err != nil {
			return fmt.Errorf("certificate authority: %w", err)
		}
		c.caFiles = ca.StateDirFiles(c.cfg.StateDir)
	}
	c.caFiles.TrustBundleFile = c.cfg.CATrustBundleFile
	// A CA that expires before the certificates it issues would is refused.
	c.caOptions = ca.Options{Now: time.Now, MinRemaining: c.cfg.DefaultCertTTL}
	m, err := c.caFiles.Load(td, c.caOptions)
	if err != nil {
		return fmt.Errorf("certificate authority: %w", err)
	}
	if c.authority, err = ca.NewAuthority(td, m, c.caOptions); err != nil {
		return fmt.Errorf("certificate authority: %w", err)
	}
	for _, r := range []string{reloadChanged, reloadUnchanged, reloadFailed} {
		c.caReloads.WithLabelValues(r)
	}
	c.registry.MustRegister(c.caReloads)
	c.registry.MustRegister(c.authority.Collectors()...)
	c.log.Info("certificate authority loaded", caAttrs(c.authority)...)
	return nil
}

// ReloadCA re-reads the CA's files (the provided CA or the state
// directory's root, and the trust bundle file). When what they hold differs
// and passes every check, it is in force from the next certificate and the
// next TLS handshake on; otherwise the CA keeps what it had and the error
// says why. It may be called once Start has returned. SIGHUP and the polling of Config.CAReloadInterval call it; see
// docs/identity.md for rotating a root with it.
func (c *ControlPlane) ReloadCA(ctx context.Context) error {
	c.caReload.Lock()
	defer c.caReload.Unlock()
	if c.authority == nil {
		return errors.New("reloading the certificate authority: the control plane has not started")
	}
	if c.cfg.SecretCA() {
		return fmt.Errorf("reloading the certificate authority: its root is kept in the Secret %s, which is read at start only: restart the control plane", c.cfg.CASecret)
	}
	var changed bool
	m, err := c.caFiles.Load(c.authority.TrustDomain(), c.caOptions)
	if err == nil {
		changed, err = c.authority.Update(m)
	}
	switch {
	case err != nil:
		c.caReloads.WithLabelValues(reloadFailed).Inc()
		return fmt.Errorf("reloading the certificate authority (it keeps its current certificate): %w", err)
	case !changed:
		c.caReloads.WithLabelValues(reloadUnchanged).Inc()
	default:
		c.caReloads.WithLabelValues(reloadChanged).Inc()
		c.log.InfoContext(ctx, "certificate authority reloaded", caAttrs(c.authority)...)
		if c.roots != nil {
			c.roots.RootsChanged()
		}
	}
	return nil
}

// pollCA calls ReloadCA every CAReloadInterval until ctx ends. A failure is
// logged when it first appears or changes, not on every tick.
func (c *ControlPlane) pollCA(ctx context.Context) {
	t := time.NewTicker(c.cfg.CAReloadInterval)
	defer t.Stop()
	var last string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := c.ReloadCA(ctx)
		switch {
		case err != nil && err.Error() != last:
			c.log.ErrorContext(ctx, "certificate authority not reloaded", "error", err)
			last = err.Error()
		case err == nil && last != "":
			c.log.InfoContext(ctx, "certificate authority files are valid again")
			last = ""
		}
	}
}

func caAttrs(a *ca.Authority) []any {
	signing := a.SigningCertificate()
	return []any{
		"signing_subject", signing.Subject.String(),
		"signing_serial", signing.SerialNumber.Text(16),
		"signing_not_after", signing.NotAfter,
		"trusted_roots", len(a.Bundle()),
	}
}
