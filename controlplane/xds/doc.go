// Package xds serves each proxy its Envoy v3 configuration over ADS, in
// both the state-of-the-world and the delta (incremental) variants, using
// go-control-plane's snapshot cache.
//
// Update takes a whole mesh, translates it for every workload connected to
// this server and replaces each one's snapshot, after checking that the
// snapshot is consistent (every EDS cluster has its assignment), so that
// no proxy is left warming. A workload that connects later is translated
// then, and a workload's snapshot goes shortly after its last stream
// (connected.go): memory follows the connected proxies, not the mesh.
// A snapshot's version is a digest of its contents: a mesh change that does
// not touch a proxy's configuration sends that proxy nothing. Because a
// mesh of thousands of workloads cannot be translated again on every
// endpoint change within a push budget of milliseconds, Update translates
// only the workloads a change can reach when it can tell (scope.go), spreads
// translation over the CPUs, builds each Service's clusters once per mesh
// (translate.Batch), and keeps one copy of each resource that several
// snapshots share (intern.go).
//
// Streams are authorized: a proxy must present a client certificate issued
// by the mesh CA whose SPIFFE ID is the identity of the workload named by its
// xDS node ID, so a workload can never read another workload's configuration.
// That includes SDS: a gateway proxy's snapshot holds the certificates of
// its own Gateway's listeners (translate), and no one else's snapshot
// does, so a proxy gets those Secrets only by being that gateway.
// Each stream's ACKs and NACKs are recorded (Status), and a proxy that stops
// reading is disconnected after SendTimeout (sendtimeout.go) rather than
// holding its stream forever. docs/performance.md has the figures at 1,000
// proxies.
package xds
