package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
)

// Ports of the run. The app listens on the app ports of appAddr; every
// proxy listens on the proxy ports of its own address.
const (
	portHTTP1    = 9080
	portH2C      = 9081
	portGRPC     = 9082
	appHTTP1     = 18080
	appH2C       = 18081
	appGRPC      = 18082
	appMTLS      = 18443
	portXDS      = 15012
	portMonitor  = 15014
	portAdmin    = 15000
	manyBasePort = 20000
	namespace    = "bench"
)

// Hosts of the run's 127.b.c.0/24.
const (
	hostControlPlane  = 1
	hostWeftClient    = 2
	hostWeftServer    = 3
	hostNginxClient   = 4
	hostNginxServer   = 5
	hostHAProxyClient = 6
	hostHAProxyServer = 7
	hostApp           = 10
	hostManyCP        = 20
	hostManyClient    = 21
	hostManyServer    = 22
)

// topology is where one run lives: a random 127.b.c.0/24, so that a busy
// port on 127.0.0.1 or a second run never collides.
type topology struct {
	dir  string
	b, c byte
}

func newTopology(dir string) (*topology, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(250*250))
	if err != nil {
		return nil, err
	}
	return &topology{dir: dir, b: byte(n.Int64()/250) + 1, c: byte(n.Int64()%250) + 1}, nil //nolint:gosec // both below 252
}

func (t *topology) host(h byte) netip.Addr { return netip.AddrFrom4([4]byte{127, t.b, t.c, h}) }
func (t *topology) at(h byte, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(t.host(h), port)
}
func (t *topology) logDir() string { return filepath.Join(t.dir, "logs") }

func (t *topology) ips() []net.IP {
	var ips []net.IP
	for h := byte(1); h <= hostManyServer; h++ {
		a := t.host(h).As4()
		ips = append(ips, net.IP(a[:]))
	}
	return ips
}

// setup is one way from the load generator to the app.
type setup struct {
	name string
	// Where the load generator connects, per protocol; "" when the set-up
	// does not carry it.
	http1, h2c, grpc string
	// mtls is the server side's mTLS address (the new-connection run).
	mtls string
	// The proxy processes; nil for direct.
	client, server *process
}

func (s *setup) proxies() []*process {
	if s.client == nil {
		return nil
	}
	return []*process{s.client, s.server}
}

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// weftMesh starts a control plane on cpHost with the config YAML and the
// run's CA, and returns it; tokens are written to dir/tokens.
func startControlPlane(ctx context.Context, t *topology, p *pki, cfg Config, name string, cpHost byte, yaml string) (*process, error) {
	dir := filepath.Join(t.dir, name)
	confDir := filepath.Join(dir, "mesh")
	if err := os.MkdirAll(confDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(confDir, "mesh.yaml"), []byte(yaml), 0o600); err != nil {
		return nil, err
	}
	cp, err := startProcess(ctx, name+"-controlplane", t.logDir(), cfg.cpu(1), filepath.Join(cfg.BinDir, "weft-controlplane"),
		"--config-dir", confDir,
		"--ca-cert-file", p.caCert(),
		"--ca-key-file", p.caKey(),
		"--xds-address", t.at(cpHost, portXDS).String(),
		"--monitor-address", t.at(cpHost, portMonitor).String(),
		"--cert-ttl", "1h",
	)
	if err != nil {
		return nil, err
	}
	if err := cp.WaitHTTP(ctx, "http://"+t.at(cpHost, portMonitor).String()+"/ready"); err != nil {
		cp.Stop()
		return nil, err
	}
	return cp, nil
}

// startSidecar starts one weft-proxy for workload side and waits until it
// is ready.
func startSidecar(ctx context.Context, t *topology, p *pki, cfg Config, cpHost byte, side MeshSide) (*process, error) {
	tokenFile := filepath.Join(t.dir, "tokens", side.Name)
	if err := os.MkdirAll(filepath.Dir(tokenFile), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(tokenFile, []byte(side.Token+"\n"), 0o600); err != nil {
		return nil, err
	}
	admin := netip.AddrPortFrom(side.Address, portAdmin).String()
	proc, err := startProcess(ctx, side.Name, t.logDir(), cfg.cpu(1), filepath.Join(cfg.BinDir, "weft-proxy"),
		"--name", side.Name,
		"--namespace", namespace,
		"--service-account", side.ServiceAccount,
		"--control-plane", t.at(cpHost, portXDS).String(),
		"--ca-root-file", p.caCert(),
		"--token-file", tokenFile,
		"--admin-address", admin,
		"--status-address", "", // the kubelet's port; several sidecars share this host
	)
	if err != nil {
		return nil, err
	}
	if err := proc.WaitHTTP(ctx, "http://"+admin+"/ready"); err != nil {
		proc.Stop()
		return nil, err
	}
	return proc, nil
}

// meshSides returns the client and server workloads of a mesh whose
// client is at clientHost and server sidecar at serverHost.
func meshSides(t *topology, clientHost, serverHost byte, prefix string) (MeshSide, MeshSide, error) {
	ct, err := newToken()
	if err != nil {
		return MeshSide{}, MeshSide{}, err
	}
	st, err := newToken()
	if err != nil {
		return MeshSide{}, MeshSide{}, err
	}
	client := MeshSide{Name: prefix + "client-1", ServiceAccount: "client", Address: t.host(clientHost), LocalAddress: t.host(clientHost), Token: ct}
	server := MeshSide{Name: prefix + "server-1", ServiceAccount: "server", Address: t.host(serverHost), LocalAddress: t.host(hostApp), Token: st}
	return client, server, nil
}

// startWeft starts the weft set-up: a control plane issuing SVIDs from the
// run's CA and two sidecars.
func startWeft(ctx context.Context, t *topology, p *pki, cfg Config) (*setup, []*process, error) {
	client, server, err := meshSides(t, hostWeftClient, hostWeftServer, "")
	if err != nil {
		return nil, nil, err
	}
	spec := MeshSpec{
		Namespace: namespace, Service: "app", AppProtocol: cfg.AppProtocol,
		Ports: []MeshPort{
			{Name: "http", Port: portHTTP1, Target: appHTTP1, L7Protocol: "http"},
			{Name: "h2c", Port: portH2C, Target: appH2C, L7Protocol: "kubernetes.io/h2c"},
			{Name: "grpc", Port: portGRPC, Target: appGRPC, L7Protocol: "grpc"},
		},
		Client: client, Server: server,
	}
	cp, err := startControlPlane(ctx, t, p, cfg, "weft", hostControlPlane, MeshYAML(spec))
	if err != nil {
		return nil, nil, err
	}
	procs := []*process{cp}
	s := &setup{
		name:  SetupWeft,
		http1: t.at(hostWeftClient, portHTTP1).String(),
		h2c:   t.at(hostWeftClient, portH2C).String(),
		grpc:  t.at(hostWeftClient, portGRPC).String(),
		mtls:  t.at(hostWeftServer, portHTTP1).String(),
	}
	if s.server, err = startSidecar(ctx, t, p, cfg, hostControlPlane, server); err != nil {
		return nil, procs, err
	}
	procs = append(procs, s.server)
	if s.client, err = startSidecar(ctx, t, p, cfg, hostControlPlane, client); err != nil {
		return nil, procs, err
	}
	procs = append(procs, s.client)
	return s, procs, nil
}

// startPeer starts the nginx or HAProxy set-up: a server side terminating
// mTLS in front of the app and a client side in front of it.
func startPeer(ctx context.Context, t *topology, p *pki, cfg Config, name string, clientHost, serverHost byte) (*setup, []*process, error) {
	s := &setup{
		name:  name,
		http1: t.at(clientHost, portHTTP1).String(),
		mtls:  t.at(serverHost, portHTTP1).String(),
	}
	var procs []*process
	for _, side := range []struct {
		server         bool
		listen, up     netip.AddrPort
		cert, key, pem string
	}{
		{true, t.at(serverHost, portHTTP1), t.at(hostApp, appHTTP1), p.serverCert(), p.serverKey(), p.serverBundle()},
		{false, t.at(clientHost, portHTTP1), t.at(serverHost, portHTTP1), p.clientCert(), p.clientKey(), p.clientBundle()},
	} {
		role := "client"
		if side.server {
			role = "server"
		}
		dir := filepath.Join(t.dir, name+"-"+role)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, procs, err
		}
		spec := PeerSpec{ServerSide: side.server, Listen: side.listen, Upstream: side.up, Dir: dir,
			CAFile: p.caCert(), CertFile: side.cert, KeyFile: side.key, Bundle: side.pem}
		conf := filepath.Join(dir, name+".conf")
		var args []string
		bin := name
		switch name {
		case SetupNginx:
			if err := os.WriteFile(conf, []byte(NginxConfig(spec)), 0o600); err != nil {
				return nil, procs, err
			}
			args = []string{"-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf}
		default:
			if err := os.WriteFile(conf, []byte(HAProxyConfig(spec)), 0o600); err != nil {
				return nil, procs, err
			}
			args = []string{"-db", "-f", conf}
		}
		path, err := findBinary(bin)
		if err != nil {
			return nil, procs, err
		}
		proc, err := startProcess(ctx, name+"-"+role, t.logDir(), cfg.cpu(1), path, args...)
		if err != nil {
			return nil, procs, err
		}
		procs = append(procs, proc)
		if err := proc.WaitTCP(ctx, side.listen.String()); err != nil {
			return nil, procs, err
		}
		if side.server {
			s.server = proc
		} else {
			s.client = proc
		}
	}
	return s, procs, nil
}

// findBinary looks bin up on PATH and in the sbin directories Debian
// installs nginx and HAProxy into.
func findBinary(bin string) (string, error) {
	if p, err := exec.LookPath(bin); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p, err := exec.LookPath(filepath.Join(dir, bin)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found: run hack/bench-deps.sh (as root) to install it", bin)
}

// cpu returns the CPU the proxies (n=1) or the load (n=0) run on, or -1
// when nothing is pinned.
func (c Config) cpu(n int) int {
	if !c.pinned() {
		return -1
	}
	return n
}
