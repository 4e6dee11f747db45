package cni_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runPlugin runs the weft-cni binary as a runtime does: command and
// arguments in the environment, configuration on stdin. It returns stdout
// and the exit code.
func runPlugin(t *testing.T, env map[string]string, stdin string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(plugin.Dir(t), "weft-cni"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), errOut.String(), exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), 0
}

// cniEnv is ADD's environment for a sandbox that is no Kubernetes pod's
// (no K8S_ arguments), whose namespace the plugin never enters.
func cniEnv(command string) map[string]string {
	return map[string]string{
		"CNI_COMMAND":        command,
		"CNI_CONTAINERID":    "c1",
		"CNI_NETNS":          "/run/netns/not-entered",
		"CNI_NETNS_OVERRIDE": "1",
		"CNI_IFNAME":         "eth0",
		"CNI_PATH":           "/opt/cni/bin",
		"CNI_ARGS":           "IgnoreUnknown=1",
	}
}

// cniError is the error a plugin prints.
type cniError struct {
	Code uint   `json:"code"`
	Msg  string `json:"msg"`
}

func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds ./cmd/weft-cni")
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://192.0.2.10:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	prevResult := `{"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/run/netns/x"}], "ips": [{"address": "198.18.0.7/24", "interface": 0}]}`
	conf := func(version, kubeconfig string, prev bool) string {
		c := `{"cniVersion": "` + version + `", "name": "k8s-pod-network", "type": "weft-cni", "kubeconfig": "` + kubeconfig + `"`
		if prev {
			c += `, "prevResult": ` + strings.Replace(prevResult, "1.0.0", version, 1)
		}
		return c + "}"
	}
	tests := []struct {
		name    string
		env     map[string]string
		stdin   string
		wantErr *cniError
		// wantOut is in stdout on success.
		wantOut string
	}{
		{
			name: "ADD first in a chain", env: cniEnv("ADD"), stdin: conf("1.0.0", kubeconfig, false),
			wantErr: &cniError{Code: 7, Msg: "weft-cni is a chained plugin: list it after the plugin that sets up the pod's interface (its configuration has no prevResult)"},
		},
		{name: "ADD of no Kubernetes pod passes the result on", env: cniEnv("ADD"), stdin: conf("1.0.0", kubeconfig, true), wantOut: `"address": "198.18.0.7/24"`},
		{name: "ADD, CNI 0.4.0", env: cniEnv("ADD"), stdin: conf("0.4.0", kubeconfig, true), wantOut: `"cniVersion": "0.4.0"`},
		{
			name: "ADD without a kubeconfig", env: cniEnv("ADD"), stdin: `{"cniVersion": "1.0.0", "name": "n", "type": "weft-cni"}`,
			wantErr: &cniError{Code: 7, Msg: "weft-cni configuration: kubeconfig is required (the file the plugin reads pods from the API server with)"},
		},
		{
			name: "ADD with CNI 0.3.1", env: cniEnv("ADD"), stdin: conf("0.3.1", kubeconfig, false),
			wantErr: &cniError{Code: 1, Msg: "incompatible CNI versions"},
		},
		{name: "STATUS", env: map[string]string{"CNI_COMMAND": "STATUS", "CNI_PATH": "/opt/cni/bin"}, stdin: conf("1.1.0", kubeconfig, false)},
		{
			name: "STATUS without the kubeconfig", env: map[string]string{"CNI_COMMAND": "STATUS", "CNI_PATH": "/opt/cni/bin"}, stdin: conf("1.1.0", "/nonexistent/kubeconfig", false),
			wantErr: &cniError{Code: 50, Msg: "kubeconfig /nonexistent/kubeconfig: stat /nonexistent/kubeconfig: no such file or directory"},
		},
		{name: "DEL of no Kubernetes pod", env: cniEnv("DEL"), stdin: conf("1.0.0", kubeconfig, false)},
		{name: "VERSION", env: map[string]string{"CNI_COMMAND": "VERSION"}, stdin: `{"cniVersion": "1.0.0"}`, wantOut: `"supportedVersions":["0.4.0","1.0.0","1.1.0"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runPlugin(t, tt.env, tt.stdin)
			if tt.wantErr != nil {
				var got cniError
				if err := json.Unmarshal([]byte(stdout), &got); err != nil || code == 0 || got != *tt.wantErr {
					t.Fatalf("exit %d, stdout %s (stderr %s); want a failure printing %+v", code, stdout, stderr, *tt.wantErr)
				}
				return
			}
			if code != 0 || !strings.Contains(stdout, tt.wantOut) {
				t.Errorf("exit %d, stdout %s (stderr %s); want success printing %s", code, stdout, stderr, tt.wantOut)
			}
		})
	}
}
