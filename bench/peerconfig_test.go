package bench

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPeerConfigs has nginx and HAProxy themselves check the generated
// configurations (nginx -t, haproxy -c), when they are installed.
func TestPeerConfigs(t *testing.T) {
	dir := t.TempDir()
	p, err := newPKI(dir, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	listen, up := netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2")
	for _, server := range []bool{true, false} {
		spec := PeerSpec{ServerSide: server, Listen: listen, Upstream: up, Dir: dir, CAFile: p.caCert(),
			CertFile: p.clientCert(), KeyFile: p.clientKey(), Bundle: p.clientBundle()}
		if server {
			spec.CertFile, spec.KeyFile, spec.Bundle = p.serverCert(), p.serverKey(), p.serverBundle()
		}
		for _, peer := range []struct {
			name, text string
			args       func(conf string) []string
			must       []string
		}{
			{SetupNginx, NginxConfig(spec), func(c string) []string { return []string{"-t", "-p", dir, "-e", filepath.Join(dir, "e.log"), "-c", c} },
				[]string{"TLSv1.3", "keepalive", map[bool]string{true: "ssl_verify_client on", false: "proxy_ssl_certificate "}[server]}},
			{SetupHAProxy, HAProxyConfig(spec), func(c string) []string { return []string{"-c", "-f", c} },
				[]string{"ssl-min-ver TLSv1.3", "verify required", "nbthread 1"}},
		} {
			t.Run(peer.name+map[bool]string{true: "-server", false: "-client"}[server], func(t *testing.T) {
				for _, m := range peer.must {
					if !strings.Contains(peer.text, m) {
						t.Errorf("configuration lacks %q:\n%s", m, peer.text)
					}
				}
				bin, err := findBinary(peer.name)
				if err != nil {
					t.Skipf("%v", err)
				}
				conf := filepath.Join(dir, peer.name+".conf")
				if err := os.WriteFile(conf, []byte(peer.text), 0o600); err != nil {
					t.Fatal(err)
				}
				out, err := exec.CommandContext(t.Context(), bin, peer.args(conf)...).CombinedOutput()
				if err != nil {
					t.Errorf("%s refuses the configuration: %v\n%s\n%s", peer.name, err, out, peer.text)
				}
			})
		}
	}
}
