// Package xdsload is the control plane's scale benchmark (`weft-bench xds`,
// part of `make bench`): one xDS server with 1,000 connected proxies and
// 10,000 endpoints, timed from an endpoint change to the last affected
// proxy's ACK, for state-of-the-world and delta ADS.
//
// The server runs in a child process (`weft-bench xds-server`) so that its
// CPU time and memory are its own: the parent holds the simulated proxies,
// in-process gRPC clients over loopback TLS, each with a client certificate
// of its workload's identity, as sidecars connect. The parent tells the
// child over stdin which service's endpoints to change; the child builds
// the new model.Mesh, calls xds.Server.Update and answers with the time the
// update started. Each proxy reports when it has acknowledged a response
// carrying the change; the latency of a change is the last affected
// proxy's report minus the update's start (one host, one wall clock).
//
// The mesh is Kubernetes-shaped: services list their endpoints as
// EndpointSlices (model.Service.Slices) whose pods are workloads without
// ports, and each proxy is a workload with Outbound entries to its
// services (see Mesh).
//
// The kube source (RunKube, `weft-bench xds --source kube`) measures what
// the above skips: the API server, the informers and their debounce. It
// creates the same mesh as Kubernetes objects in a real kube-apiserver
// (envtest), runs the whole control plane in Kubernetes mode as the child
// (ServeKube), connects the proxies as Pods and times each change from
// its EndpointSlice write to the last affected proxy's ACK.
package xdsload
