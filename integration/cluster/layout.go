package cluster

import (
	"fmt"
	"path/filepath"
)

// layout names the files and directories below the state directory.
type layout struct {
	dir string
}

func (l layout) path(elem ...string) string {
	return filepath.Join(append([]string{l.dir}, elem...)...)
}

func (l layout) pki() string                   { return l.path("pki") }
func (l layout) pkiFile(name string) string    { return l.path("pki", name) }
func (l layout) kubeconfig(name string) string { return l.path(name + ".kubeconfig") }
func (l layout) logs() string                  { return l.path("logs") }
func (l layout) logFile(name string) string    { return l.path("logs", name+".log") }
func (l layout) pidFile(name string) string    { return l.path(name + ".pid") }
func (l layout) config(name string) string     { return l.path("config", name) }
func (l layout) etcdData() string              { return l.path("etcd") }
func (l layout) containerdRoot() string        { return l.path("containerd", "root") }
func (l layout) containerdState() string       { return l.path("containerd", "state") }
func (l layout) containerdSocket() string      { return l.path("containerd", "containerd.sock") }
func (l layout) runcRoot() string              { return l.path("containerd", "runc") }
func (l layout) cniConfDir() string            { return l.path("cni") }
func (l layout) shimSockets() string           { return l.path("containerd", "s") }
func (l layout) cniDataDir() string            { return l.path("cni", "networks") }
func (l layout) kubeletRoot() string           { return l.path("kubelet") }
func (l layout) podLogs() string               { return l.path("pod-logs") }
func (l layout) volumePlugins() string         { return l.path("volume-plugins") }
func (l layout) sysctls() string               { return l.path("sysctls.json") }

func (l layout) apiServerURL() string {
	return fmt.Sprintf("https://%s:%d", NodeIP, apiServerPort)
}
