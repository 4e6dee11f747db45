package demo

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"text/template"
)

// Ports of the demo's mesh. The backend's app listens on appPort; its
// sidecar accepts mTLS on meshPort and the frontend's sidecar offers the
// frontend a plaintext listener on meshPort of its own address. The
// backend's HTTP app listens on httpAppPort behind the sidecar's
// httpMeshPort, which the gateway reaches; the gateway's listeners are on
// gatewayHTTPPort and gatewayHTTPSPort of its own address.
const (
	meshPort         = 9000
	appPort          = 19000
	httpMeshPort     = 8080
	httpAppPort      = 18080
	gatewayHTTPPort  = 8080
	gatewayHTTPSPort = 8443
	xdsPort          = 15012
	monitorPort      = 15014
	adminPort        = 15000
	demoNamespace    = "demo"
	trustDomain      = "cluster.local"
	frontendSA       = "frontend"
	backendSA        = "backend"
	frontendName     = "frontend-1"
	backendName      = "backend-1"
	meshConfigFile   = "mesh.yaml"
	// The ingress gateway: Gateway gatewayObject, run by the workload
	// gatewayName with the ServiceAccount Kubernetes would give it.
	gatewayObject  = "edge"
	gatewayName    = "edge-gateway-1"
	gatewaySA      = gatewayObject + "-weft"
	gatewayHost    = "demo.weft.local"
	gatewayCertRef = "demo-weft-local"
	gatewayCfgFile = "gateway.yaml"
)

// layout is where everything of one run lives: a random 127.x.y.0/24 so
// that runs side by side (or a busy port 9000 on 127.0.0.1) never collide.
type layout struct {
	dir          string
	controlPlane netip.Addr
	frontend     netip.Addr
	backend      netip.Addr
	gateway      netip.Addr
	client       netip.Addr        // the external client's source address
	tokens       map[string]string // workload name -> bootstrap token
	// gatewayCert is the PEM certificate of gatewayHost that write
	// generates for the gateway's HTTPS listener; the client trusts it.
	gatewayCert []byte
}

func newLayout(dir string) (*layout, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(250*250))
	if err != nil {
		return nil, err
	}
	b, c := byte(n.Int64()/250)+1, byte(n.Int64()%250)+1 //nolint:gosec // both below 252
	l := &layout{
		dir:          dir,
		controlPlane: netip.AddrFrom4([4]byte{127, b, c, 1}),
		frontend:     netip.AddrFrom4([4]byte{127, b, c, 2}),
		backend:      netip.AddrFrom4([4]byte{127, b, c, 3}),
		gateway:      netip.AddrFrom4([4]byte{127, b, c, 4}),
		client:       netip.AddrFrom4([4]byte{127, b, c, 5}),
		tokens:       map[string]string{},
	}
	for _, name := range []string{frontendName, backendName, gatewayName} {
		token := make([]byte, 32)
		if _, err := rand.Read(token); err != nil {
			return nil, err
		}
		l.tokens[name] = hex.EncodeToString(token)
	}
	return l, nil
}

func (l *layout) configDir() string { return filepath.Join(l.dir, "mesh") }
func (l *layout) stateDir() string  { return filepath.Join(l.dir, "state") }
func (l *layout) logDir() string    { return filepath.Join(l.dir, "logs") }
func (l *layout) rootCert() string  { return filepath.Join(l.stateDir(), "root-cert.pem") }
func (l *layout) tokenFile(name string) string {
	return filepath.Join(l.dir, "tokens", name)
}

func (l *layout) xdsAddr() netip.AddrPort { return netip.AddrPortFrom(l.controlPlane, xdsPort) }
func (l *layout) monitorAddr() netip.AddrPort {
	return netip.AddrPortFrom(l.controlPlane, monitorPort)
}
func (l *layout) adminAddr(w netip.Addr) netip.AddrPort { return netip.AddrPortFrom(w, adminPort) }

// frontendOutbound is where the frontend app reaches the backend service.
func (l *layout) frontendOutbound() netip.AddrPort { return netip.AddrPortFrom(l.frontend, meshPort) }

// backendMesh is the backend sidecar's mTLS port.
func (l *layout) backendMesh() netip.AddrPort { return netip.AddrPortFrom(l.backend, meshPort) }

// backendApp is where the backend app itself listens.
func (l *layout) backendApp() netip.AddrPort { return netip.AddrPortFrom(l.backend, appPort) }

// backendHTTPApp is where the backend's HTTP app listens.
func (l *layout) backendHTTPApp() netip.AddrPort { return netip.AddrPortFrom(l.backend, httpAppPort) }

var meshTemplate = template.Must(template.New(meshConfigFile).Parse(`# The demo's mesh, in the same shape as Kubernetes objects.
apiVersion: v1
kind: Service
metadata:
  name: backend
  namespace: {{.Namespace}}
spec:
  selector:
    app: backend
  ports:
  - name: tcp-echo
    port: {{.MeshPort}}
    appProtocol: tcp
  - name: http
    port: {{.HTTPMeshPort}}
    appProtocol: http
---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata:
  name: {{.BackendName}}
  namespace: {{.Namespace}}
  labels:
    app: backend
spec:
  serviceAccount: {{.BackendSA}}
  address: {{.Backend}}
  localAddress: {{.Backend}}
  ports:
  - name: tcp-echo
    port: {{.MeshPort}}
    targetPort: {{.AppPort}}
  - name: http
    port: {{.HTTPMeshPort}}
    targetPort: {{.HTTPAppPort}}
  bootstrapTokenSHA256: {{.BackendToken}}
---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata:
  name: {{.FrontendName}}
  namespace: {{.Namespace}}
  labels:
    app: frontend
spec:
  serviceAccount: {{.FrontendSA}}
  address: {{.Frontend}}
  localAddress: {{.Frontend}}
  outbound:
  - service: backend
    port: {{.MeshPort}}
  bootstrapTokenSHA256: {{.FrontendToken}}
---
# Plaintext is refused everywhere (the default, PERMISSIVE, eases adoption).
apiVersion: mesh.weft.dev/v1alpha1
kind: PeerAuthentication
metadata:
  name: default
  namespace: weft-system
spec:
  mtls:
    mode: STRICT
---
# Only the frontend and the ingress gateway may call the backend.
apiVersion: mesh.weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: backend-callers
  namespace: {{.Namespace}}
spec:
  selector:
    matchLabels:
      app: backend
  action: ALLOW
  rules:
  - from:
    - serviceAccounts: [{{.FrontendSA}}, {{.GatewaySA}}]
`))

// write creates the run's directories, the mesh YAML and the token files.
func (l *layout) write() error {
	for _, d := range []string{l.configDir(), l.stateDir(), l.logDir(), filepath.Dir(l.tokenFile("x"))} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	for name, token := range l.tokens {
		if err := os.WriteFile(l.tokenFile(name), []byte(token+"\n"), 0o600); err != nil {
			return err
		}
	}
	f, err := os.Create(filepath.Join(l.configDir(), meshConfigFile))
	if err != nil {
		return err
	}
	err = meshTemplate.Execute(f, map[string]any{
		"Namespace":     demoNamespace,
		"MeshPort":      meshPort,
		"AppPort":       appPort,
		"Backend":       l.backend,
		"Frontend":      l.frontend,
		"BackendName":   backendName,
		"FrontendName":  frontendName,
		"BackendSA":     backendSA,
		"FrontendSA":    frontendSA,
		"BackendToken":  digestHex(l.tokens[backendName]),
		"FrontendToken": digestHex(l.tokens[frontendName]),
		"HTTPMeshPort":  httpMeshPort,
		"HTTPAppPort":   httpAppPort,
		"GatewaySA":     gatewaySA,
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing the mesh configuration: %w", err)
	}
	return l.writeGateway()
}

func digestHex(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
