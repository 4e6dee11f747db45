package controlplane

import (
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weftmesh/weft/controlplane/kube"
	"github.com/weftmesh/weft/controlplane/status"
)

// newStatusWriter returns the writer of policy, route and ingress gateway
// status (GatewayClass, Gateway): every replica runs one, and the one
// holding the Lease writes.
func (c *ControlPlane) newStatusWriter(restCfg *rest.Config) (*status.Writer, error) {
	identity := c.cfg.Identity
	if identity == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("status writer identity: %w", err)
		}
		identity = host
	}
	scheme, err := kube.NewScheme()
	if err != nil {
		return nil, err
	}
	cl, err := client.New(restCfg, client.Options{Scheme: scheme, HTTPClient: c.kubeHTTP})
	if err != nil {
		return nil, fmt.Errorf("status writer client: %w", err)
	}
	w, err := status.New(status.Config{
		Client:     cl,
		RESTConfig: restCfg,
		HTTPClient: c.kubeHTTP,
		Identity:   identity,
		Logger:     c.log.With("component", "status"),
	})
	if err != nil {
		return nil, fmt.Errorf("status writer: %w", err)
	}
	return w, nil
}
