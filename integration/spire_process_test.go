package integration

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	spiretypes "github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// This file runs the real SPIRE server and agent (module
// github.com/spiffe/spire, built by hack/spire.sh) as child processes.

// spireBuildTimeout bounds hack/spire.sh when the binaries are not cached
// yet: a cold build of both takes several minutes on two cores.
const spireBuildTimeout = 20 * time.Minute

// spireBinDir returns the directory holding spire-server and spire-agent,
// building them with hack/spire.sh when they are missing.
func spireBinDir(t *testing.T) string {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "hack", "spire.sh"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), spireBuildTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, script)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("building SPIRE with hack/spire.sh: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	dir := lines[len(lines)-1]
	for _, bin := range []string{"spire-server", "spire-agent"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			t.Fatalf("hack/spire.sh printed %q, which has no %s: %v", dir, bin, err)
		}
	}
	return dir
}

// shortTempDir is a temporary directory with a short path: unix socket
// paths must fit in 108 bytes, and t.TempDir's include the test's name.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "weft-spire-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// freePort returns a TCP port on host that was free a moment ago.
func freePort(t *testing.T, host string) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// spireServer is a running spire-server with a join-token node attestor,
// an in-memory key manager and a SQLite datastore.
type spireServer struct {
	bin    string
	socket string // its local admin API
	host   string
	port   string
}

const spireServerConf = `server {
    bind_address = %[1]q
    bind_port = %[2]q
    socket_path = %[3]q
    trust_domain = %[4]q
    data_dir = %[5]q
    log_level = "DEBUG"
    ca_ttl = "24h"
    default_x509_svid_ttl = "1h"
}

plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
            connection_string = %[6]q
        }
    }
    KeyManager "memory" {
        plugin_data {}
    }
    NodeAttestor "join_token" {
        plugin_data {}
    }
}
`

func startSPIREServer(t *testing.T, binDir, dir, host, trustDomain string) *spireServer {
	t.Helper()
	s := &spireServer{
		bin:    filepath.Join(binDir, "spire-server"),
		socket: filepath.Join(dir, "server.sock"),
		host:   host,
		port:   freePort(t, host),
	}
	dataDir := filepath.Join(dir, "server-data")
	conf := filepath.Join(dir, "server.conf")
	writeFile(t, conf, fmt.Sprintf(spireServerConf, host, s.port, s.socket, trustDomain, dataDir,
		filepath.Join(dataDir, "datastore.sqlite3")))
	startProcess(t, "spire-server", s.bin, filepath.Join(dir, "server.log"), "run", "-config", conf)
	waitForCommand(t, "spire-server healthy", s.bin, "healthcheck", "-socketPath", s.socket)
	return s
}

// cli runs a spire-server subcommand against this server and returns its
// standard output.
func (s *spireServer) cli(t *testing.T, args ...string) string {
	t.Helper()
	args = append(args, "-socketPath", s.socket)
	out, err := runCommand(t.Context(), s.bin, args...)
	if err != nil {
		t.Fatalf("spire-server %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// bundle returns the X.509 authorities of the server's own trust domain,
// as `spire-server bundle show` prints them.
func (s *spireServer) bundle(t *testing.T) []*x509.Certificate {
	t.Helper()
	certs, err := parsePEMCerts([]byte(s.cli(t, "bundle", "show", "-format", "pem")))
	if err != nil {
		t.Fatalf("spire-server bundle show: %v", err)
	}
	return certs
}

// appendX509Authorities adds roots to the server's own trust bundle with
// the Bundle API's AppendBundle (the CLI has no command for it): every
// agent, and so every workload, then trusts them too.
func (s *spireServer) appendX509Authorities(t *testing.T, roots []*x509.Certificate) {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+s.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := &bundlev1.AppendBundleRequest{}
	for _, r := range roots {
		req.X509Authorities = append(req.X509Authorities, &spiretypes.X509Certificate{Asn1: r.Raw})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := bundlev1.NewBundleClient(conn).AppendBundle(ctx, req); err != nil {
		t.Fatalf("appending roots to SPIRE's bundle: %v", err)
	}
}

// joinToken generates a one-time join token for an agent.
func (s *spireServer) joinToken(t *testing.T) string {
	t.Helper()
	out := s.cli(t, "token", "generate", "-ttl", "600")
	for _, line := range strings.Split(out, "\n") {
		if tok, ok := strings.CutPrefix(line, "Token: "); ok {
			return strings.TrimSpace(tok)
		}
	}
	t.Fatalf("spire-server token generate printed no token:\n%s", out)
	return ""
}

// spireAgent is a running spire-agent with the unix workload attestor.
type spireAgent struct {
	id     string // the agent's SPIFFE ID, parent of its workloads' entries
	socket string // the Workload API
}

const spireAgentConf = `agent {
    data_dir = %[1]q
    log_level = "DEBUG"
    server_address = %[2]q
    server_port = %[3]q
    socket_path = %[4]q
    trust_bundle_path = %[5]q
    trust_domain = %[6]q
}

plugins {
    NodeAttestor "join_token" {
        plugin_data {}
    }
    KeyManager "memory" {
        plugin_data {}
    }
    WorkloadAttestor "unix" {
        plugin_data {}
    }
}
`

// startSPIREAgent attests an agent to s with a fresh join token. It
// bootstraps trust from bundleFile, which holds the server's roots.
func startSPIREAgent(t *testing.T, binDir, dir string, s *spireServer, trustDomain, bundleFile string) *spireAgent {
	t.Helper()
	token := s.joinToken(t)
	a := &spireAgent{
		id:     fmt.Sprintf("spiffe://%s/spire/agent/join_token/%s", trustDomain, token),
		socket: filepath.Join(dir, "agent.sock"),
	}
	conf := filepath.Join(dir, "agent.conf")
	writeFile(t, conf, fmt.Sprintf(spireAgentConf, filepath.Join(dir, "agent-data"), s.host, s.port, a.socket, bundleFile, trustDomain))
	bin := filepath.Join(binDir, "spire-agent")
	startProcess(t, "spire-agent", bin, filepath.Join(dir, "agent.log"), "run", "-config", conf, "-joinToken", token)
	waitForCommand(t, "spire-agent healthy", bin, "healthcheck", "-socketPath", a.socket)
	return a
}

// startProcess runs bin until the test ends, its output in logPath, which
// is shown when the test fails.
func startProcess(t *testing.T, name, bin, logPath string, args ...string) {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		defer close(exited)
		waitErr = cmd.Wait()
	}()
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			_ = logFile.Close()
			if t.Failed() {
				logs, _ := os.ReadFile(logPath)
				t.Logf("%s log (exit: %v):\n%s", name, waitErr, tail(string(logs), 200))
			}
		})
	})
}

// runCommand runs bin to completion within ten seconds; the error carries
// its combined output.
func runCommand(ctx context.Context, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s%s", err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// waitForCommand runs bin until it succeeds, for at most a minute.
func waitForCommand(t *testing.T, what, bin string, args ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := runCommand(t.Context(), bin, args...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func parsePEMCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate in the PEM data")
	}
	return certs, nil
}

func writeCertsPEM(t *testing.T, path string, certs []*x509.Certificate) {
	t.Helper()
	var buf bytes.Buffer
	for _, c := range certs {
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, path, buf.String())
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
