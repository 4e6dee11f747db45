package cnitest

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// BuildWeftCNI builds this checkout's weft-cni binary into dir, for a
// node's plugin directories (NewNode's pluginDirs).
func BuildWeftCNI(dir string) error {
	var out bytes.Buffer
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "weft-cni"), "github.com/weftmesh/weft/cmd/weft-cni") //nolint:gosec // the go command, into the caller's directory
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/weft-cni: %w\n%s", err, out.String())
	}
	return nil
}

// WeftCNIConf is weft-cni's entry for AddPod's chain, logging at debug
// level to logFile ("" for stderr, which libcni shows on failure).
func WeftCNIConf(kubeconfig, logFile string) map[string]any {
	conf := map[string]any{"type": "weft-cni", "kubeconfig": kubeconfig, "log_level": "debug"}
	if logFile != "" {
		conf["log_file"] = logFile
	}
	return conf
}

// WriteKubeconfig writes, in t's temp dir, a kubeconfig for weft-cni that
// reaches the API server of cfg (envtest's, say) at server, an address
// from Expose, with cfg's credentials; it returns the file's path.
func WriteKubeconfig(t testing.TB, cfg *rest.Config, server string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken,
	}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "weft-cni.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
