package httpproxy

import (
	"net/http"
	"time"

	"github.com/weftmesh/weft/proxy/meshmetrics"
)

// The workload headers between sidecars (package meshmetrics): an
// outbound listener sends its workload with requests over mTLS and learns
// the server's from the response; an inbound listener learns the client's
// from the request and sends its own with responses over mTLS. Both delete
// what they read, so the apps never see these fields, and neither trusts
// them from a plaintext peer.

// takeSource reads and deletes the client's workload headers of an inbound
// request; on outbound requests it deletes what the app may have put there.
func (ex *exchange) takeSource() {
	h := ex.r.Header
	if ex.info.listener.Direction != "inbound" {
		h.Del(meshmetrics.HeaderSourceWorkload)
		h.Del(meshmetrics.HeaderSourceNamespace)
		return
	}
	ex.remote = meshmetrics.TakePeer(h, ex.info.peer, meshmetrics.HeaderSourceWorkload, meshmetrics.HeaderSourceNamespace)
}

// addSource sets this proxy's workload headers on an outbound request to
// an mTLS target, and deletes them toward any other.
func (ex *exchange) addSource(out *http.Request, target Target) {
	w := ex.p.cfg.Workload
	if !target.MTLS || ex.info.listener.Direction == "inbound" || w.Name == "" {
		out.Header.Del(meshmetrics.HeaderSourceWorkload)
		out.Header.Del(meshmetrics.HeaderSourceNamespace)
		return
	}
	out.Header.Set(meshmetrics.HeaderSourceWorkload, w.Name)
	out.Header.Set(meshmetrics.HeaderSourceNamespace, w.Namespace)
}

// peerHeaders fixes the workload headers of the response about to be
// written: on inbound listeners, this proxy's own for an mTLS client and
// none for the others; on outbound ones, the server's are read (trusted
// from an mTLS upstream only) and deleted.
func (ex *exchange) peerHeaders(h http.Header) {
	if ex.info.listener.Direction != "inbound" {
		ex.remote = meshmetrics.TakePeer(h, ex.peer, meshmetrics.HeaderDestinationWorkload, meshmetrics.HeaderDestinationNamespace)
		return
	}
	h.Del(meshmetrics.HeaderDestinationWorkload)
	h.Del(meshmetrics.HeaderDestinationNamespace)
	if w := ex.p.cfg.Workload; ex.info.peer != "" && w.Name != "" {
		h.Set(meshmetrics.HeaderDestinationWorkload, w.Name)
		h.Set(meshmetrics.HeaderDestinationNamespace, w.Namespace)
	}
}

// peerWriter calls peerHeaders once, before the final response head goes.
type peerWriter struct {
	http.ResponseWriter
	ex    *exchange
	wrote bool
}

func (w *peerWriter) WriteHeader(code int) {
	if !w.wrote && code >= 200 {
		w.wrote = true
		w.ex.peerHeaders(w.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *peerWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach Flush, Hijack and
// EnableFullDuplex.
func (w *peerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush keeps http.Flusher for handlers that assert it.
func (w *peerWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// observeMesh counts the request in weft_requests_total and
// weft_request_duration_seconds.
func (ex *exchange) observeMesh(req *meshmetrics.Request) {
	ex.fillPeers(req)
	req.Code = ex.status
	h := ex.w.Header()
	req.Flags = h.Get(flagHeader)
	if (ex.status == 0 || ex.status == 499) && ex.r.Context().Err() != nil {
		req.Flags = FlagDownstreamDisconnect
	}
	if isGRPC(ex.r) {
		req.GRPCStatus = ex.grpcStatus
		if req.GRPCStatus == "" {
			req.GRPCStatus = h.Get("Grpc-Status") // trailers-only and local answers
		}
	}
	ex.p.mesh.ObserveRequest(req)
}

// fillPeers sets the labels of who talked to whom.
func (ex *exchange) fillPeers(req *meshmetrics.Request) {
	self := ex.p.cfg.Workload
	if ex.info.listener.Direction == "inbound" {
		req.Reporter = meshmetrics.ReporterDestination
		req.SourceWorkload, req.SourceNamespace, req.SourcePrincipal = ex.remote.Workload, ex.remote.Namespace, ex.remote.Principal
		req.DestinationWorkload, req.DestinationNamespace, req.DestinationPrincipal = self.Name, self.Namespace, self.Principal
	} else {
		req.Reporter = meshmetrics.ReporterSource
		req.SourceWorkload, req.SourceNamespace, req.SourcePrincipal = self.Name, self.Namespace, self.Principal
		req.DestinationWorkload, req.DestinationNamespace, req.DestinationPrincipal = ex.remote.Workload, ex.remote.Namespace, ex.peer
		if req.DestinationNamespace == "" {
			req.DestinationNamespace = meshmetrics.NamespaceOf(ex.peer)
		}
	}
	req.DestinationService = meshmetrics.ServiceOf(ex.cluster)
}

// noteGRPCStatus remembers the grpc-status of a forwarded response.
func (ex *exchange) noteGRPCStatus(resp *http.Response) {
	if s := resp.Trailer.Get("Grpc-Status"); s != "" {
		ex.grpcStatus = s
		return
	}
	ex.grpcStatus = resp.Header.Get("Grpc-Status")
}

// observeRefusedHead counts a request head the HTTP/1 reader refused
// (DPE): its client is known by its certificate only.
func (p *Proxy) observeRefusedHead(info *connInfo, status int, d time.Duration) {
	ex := &exchange{p: p, info: info, peer: info.peer, status: status}
	if info.listener.Direction == "inbound" {
		ex.remote = meshmetrics.Peer{Principal: info.peer, Namespace: meshmetrics.NamespaceOf(info.peer)}
	} else {
		ex.peer = ""
	}
	req := &meshmetrics.Request{Duration: d}
	ex.fillPeers(req)
	req.Code, req.Flags = status, FlagDownstreamProtocolError
	p.mesh.ObserveRequest(req)
}
