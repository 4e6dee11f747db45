// Package xds serves each proxy its Envoy v3 configuration over ADS, using
// go-control-plane's snapshot cache.
//
// Update takes a whole mesh, translates it for every workload and replaces
// each workload's snapshot, after checking that the snapshot is consistent
// (every EDS cluster has its assignment), so that no proxy is left warming.
// A snapshot's version is a digest of its contents: a mesh change that does
// not touch a proxy's configuration sends that proxy nothing.
//
// Streams are authorized: a proxy must present a client certificate issued
// by the mesh CA whose SPIFFE ID is the identity of the workload named by its
// xDS node ID, so a workload can never read another workload's configuration.
package xds
