package dataplane_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// h2cTransport speaks HTTP/2 with prior knowledge over plaintext.
func h2cTransport() *http.Transport {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return tr
}

// echoService is a gRPC service written by hand, on wrapperspb messages:
//
//	Unary(StringValue) → StringValue: the value, and "deadline" when the
//	  call has one; "fail" fails with NOT_FOUND.
//	ServerStream(StringValue) → stream of 3 StringValues
//	ClientStream(stream StringValue) → StringValue: the values joined
//	Bidi(stream StringValue) → stream: each value echoed as it arrives
//
// Every call sets trailer x-trailer to its method name.
var echoService = grpc.ServiceDesc{
	ServiceName: "weft.test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Unary",
		Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var in wrapperspb.StringValue
			if err := dec(&in); err != nil {
				return nil, err
			}
			_ = grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "unary"))
			if in.GetValue() == "fail" {
				return nil, status.Error(codes.NotFound, "no such thing")
			}
			out := in.GetValue()
			if _, ok := ctx.Deadline(); ok {
				out += " deadline"
			}
			return wrapperspb.String(out), nil
		},
	}},
	Streams: []grpc.StreamDesc{
		{StreamName: "ServerStream", ServerStreams: true, Handler: func(_ any, s grpc.ServerStream) error {
			var in wrapperspb.StringValue
			if err := s.RecvMsg(&in); err != nil {
				return err
			}
			s.SetTrailer(metadata.Pairs("x-trailer", "server"))
			for i := range 3 {
				if err := s.SendMsg(wrapperspb.String(in.GetValue() + string(rune('0'+i)))); err != nil {
					return err
				}
			}
			return nil
		}},
		{StreamName: "ClientStream", ClientStreams: true, Handler: func(_ any, s grpc.ServerStream) error {
			var got []string
			for {
				var in wrapperspb.StringValue
				err := s.RecvMsg(&in)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return err
				}
				got = append(got, in.GetValue())
			}
			s.SetTrailer(metadata.Pairs("x-trailer", "client"))
			return s.SendMsg(wrapperspb.String(strings.Join(got, ",")))
		}},
		{StreamName: "Bidi", ServerStreams: true, ClientStreams: true, Handler: func(_ any, s grpc.ServerStream) error {
			s.SetTrailer(metadata.Pairs("x-trailer", "bidi"))
			for {
				var in wrapperspb.StringValue
				err := s.RecvMsg(&in)
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
				if err := s.SendMsg(wrapperspb.String("echo " + in.GetValue())); err != nil {
					return err
				}
			}
		}},
	},
}

func startGRPCApp(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	srv.RegisterService(&echoService, struct{}{})
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil {
			t.Errorf("gRPC app: %v", err)
		}
	})
	t.Cleanup(func() {
		srv.Stop()
		wg.Wait()
	})
	return ln.Addr().String()
}

func TestGRPCThroughMesh(t *testing.T) {
	m := newHTTPMesh(t, startGRPCApp(t), true)
	conn, err := grpc.NewClient(m.outbound, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority(outboundVhost))
	must(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	t.Run("unary with deadline", func(t *testing.T) {
		var out wrapperspb.StringValue
		var trailer metadata.MD
		must(t, conn.Invoke(ctx, "/weft.test.Echo/Unary", wrapperspb.String("hi"), &out, grpc.Trailer(&trailer)))
		if out.GetValue() != "hi deadline" {
			t.Errorf("got %q, want %q (the deadline must reach the server)", out.GetValue(), "hi deadline")
		}
		if got := trailer.Get("x-trailer"); len(got) != 1 || got[0] != "unary" {
			t.Errorf("trailer x-trailer %v, want [unary]", got)
		}
	})
	t.Run("unary error status", func(t *testing.T) {
		var out wrapperspb.StringValue
		var trailer metadata.MD
		err := conn.Invoke(ctx, "/weft.test.Echo/Unary", wrapperspb.String("fail"), &out, grpc.Trailer(&trailer))
		if s := status.Convert(err); s.Code() != codes.NotFound || s.Message() != "no such thing" {
			t.Errorf("error %v, want NOT_FOUND: no such thing", err)
		}
		if got := trailer.Get("x-trailer"); len(got) != 1 || got[0] != "unary" {
			t.Errorf("trailer x-trailer %v, want [unary]", got)
		}
	})
	t.Run("server streaming", func(t *testing.T) {
		s, err := conn.NewStream(ctx, &echoService.Streams[0], "/weft.test.Echo/ServerStream")
		must(t, err)
		must(t, s.SendMsg(wrapperspb.String("n")))
		must(t, s.CloseSend())
		var got []string
		for {
			var in wrapperspb.StringValue
			err := s.RecvMsg(&in)
			if errors.Is(err, io.EOF) {
				break
			}
			must(t, err)
			got = append(got, in.GetValue())
		}
		if strings.Join(got, ",") != "n0,n1,n2" {
			t.Errorf("got %v, want [n0 n1 n2]", got)
		}
		if tr := s.Trailer().Get("x-trailer"); len(tr) != 1 || tr[0] != "server" {
			t.Errorf("trailer x-trailer %v, want [server]", tr)
		}
	})
	t.Run("client streaming", func(t *testing.T) {
		s, err := conn.NewStream(ctx, &echoService.Streams[1], "/weft.test.Echo/ClientStream")
		must(t, err)
		for _, v := range []string{"a", "b", "c"} {
			must(t, s.SendMsg(wrapperspb.String(v)))
		}
		must(t, s.CloseSend())
		var out wrapperspb.StringValue
		must(t, s.RecvMsg(&out))
		if out.GetValue() != "a,b,c" {
			t.Errorf("got %q, want a,b,c", out.GetValue())
		}
		if tr := s.Trailer().Get("x-trailer"); len(tr) != 1 || tr[0] != "client" {
			t.Errorf("trailer x-trailer %v, want [client]", tr)
		}
	})
	t.Run("bidi ping-pong", func(t *testing.T) {
		// Each reply is awaited before the next message is sent: nothing
		// may sit in a buffer of the proxies.
		s, err := conn.NewStream(ctx, &echoService.Streams[2], "/weft.test.Echo/Bidi")
		must(t, err)
		for i := range 5 {
			v := strings.Repeat("x", i*1000)
			must(t, s.SendMsg(wrapperspb.String(v)))
			var in wrapperspb.StringValue
			must(t, s.RecvMsg(&in))
			if in.GetValue() != "echo "+v {
				t.Fatalf("message %d: got %d bytes, want the echo of %d", i, len(in.GetValue()), len(v))
			}
		}
		must(t, s.CloseSend())
		var in wrapperspb.StringValue
		if err := s.RecvMsg(&in); !errors.Is(err, io.EOF) {
			t.Errorf("after CloseSend: %v, want EOF", err)
		}
		if tr := s.Trailer().Get("x-trailer"); len(tr) != 1 || tr[0] != "bidi" {
			t.Errorf("trailer x-trailer %v, want [bidi]", tr)
		}
	})

	eventually(t, func() string {
		if v := metric(t, m.srvMetrics, "weft_proxy_http_requests_total", requests(inboundName, "inbound", "2xx", clientID)); v != 5 {
			return "server proxy counted " + ftoa(v) + " requests from " + clientID + ", want 5"
		}
		if v := metric(t, m.clientMetrics, "weft_proxy_http_requests_total", requests(outboundName, "outbound", "2xx", serverID)); v != 5 {
			return "client proxy counted " + ftoa(v) + " requests to " + serverID + ", want 5"
		}
		return ""
	})
}
