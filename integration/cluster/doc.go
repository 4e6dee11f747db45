// Package cluster brings up a real one-node Kubernetes on this machine for
// the end-to-end tests (`make e2e`): etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, containerd, the kubelet and
// kube-proxy, built from Go modules and run as plain processes, with the
// reference CNI plugins for pod networking and CoreDNS as the cluster DNS
// (dns.go), as every real cluster has one. It exists so that Weft is shown
// working under a real kubelet, a real kube-proxy datapath and a real CNI,
// which envtest (an API server alone) and network-namespace tests (a
// hand-made node) cannot show.
//
// Everything it makes on the machine is named weft-e2e* or lives under its
// state directory (docs/e2e.md, "Layout on the machine"), so that Clean can
// remove a crashed run's leftovers by name and by PID file, and never
// anything else. Up calls Clean first; Down is Clean with the processes it
// started still at hand. It needs root.
package cluster
