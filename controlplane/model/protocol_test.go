package model

import "testing"

func TestPortProtocol(t *testing.T) {
	tests := []struct {
		name, appProtocol string
		want              Protocol
	}{
		// appProtocol decides alone when set.
		{appProtocol: "http", want: ProtocolHTTP},
		{appProtocol: "http2", want: ProtocolHTTP2},
		{appProtocol: "kubernetes.io/h2c", want: ProtocolHTTP2},
		{appProtocol: "grpc", want: ProtocolGRPC},
		{appProtocol: "tcp", name: "http", want: ProtocolTCP},
		{appProtocol: "https", name: "http-web", want: ProtocolTCP},
		{appProtocol: "kubernetes.io/ws", want: ProtocolTCP},
		{appProtocol: "HTTP", want: ProtocolTCP},
		{appProtocol: "grpc", name: "tcp", want: ProtocolGRPC},
		// Without it, the name.
		{name: "http", want: ProtocolHTTP},
		{name: "http-web", want: ProtocolHTTP},
		{name: "http2", want: ProtocolHTTP2},
		{name: "http2-api", want: ProtocolHTTP2},
		{name: "grpc", want: ProtocolGRPC},
		{name: "grpc-greeter", want: ProtocolGRPC},
		{name: "https", want: ProtocolTCP},
		{name: "http-", want: ProtocolHTTP},
		{name: "httpx", want: ProtocolAuto},
		{name: "grpcweb", want: ProtocolAuto},
		{name: "web-http", want: ProtocolAuto},
		{name: "h2c", want: ProtocolAuto},
		{name: "web", want: ProtocolAuto},
		{name: "", want: ProtocolAuto},
		// Names that declare TCP.
		{name: "tcp", want: ProtocolTCP},
		{name: "tcp-db", want: ProtocolTCP},
		{name: "tls", want: ProtocolTCP},
		{name: "https-admin", want: ProtocolTCP},
		{name: "tcpx", want: ProtocolAuto},
		{appProtocol: "mysql", name: "web", want: ProtocolTCP},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.appProtocol, func(t *testing.T) {
			if got := PortProtocol(ServicePort{Name: tt.name, AppProtocol: tt.appProtocol, Port: 80}); got != tt.want {
				t.Errorf("PortProtocol(name %q, appProtocol %q) = %v, want %v", tt.name, tt.appProtocol, got, tt.want)
			}
		})
	}
}

func TestProtocolPredicates(t *testing.T) {
	tests := []struct {
		p               Protocol
		name            string
		isHTTP, isHTTP2 bool
	}{
		{ProtocolTCP, "tcp", false, false},
		{ProtocolAuto, "auto", false, false},
		{ProtocolHTTP, "http", true, false},
		{ProtocolHTTP2, "http2", true, true},
		{ProtocolGRPC, "grpc", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.p.String() != tt.name || tt.p.IsHTTP() != tt.isHTTP || tt.p.IsHTTP2() != tt.isHTTP2 {
				t.Errorf("%d: String %q IsHTTP %v IsHTTP2 %v", tt.p, tt.p.String(), tt.p.IsHTTP(), tt.p.IsHTTP2())
			}
		})
	}
}

func TestInboundProtocol(t *testing.T) {
	svc := func(name string, ports ...ServicePort) Service {
		return Service{Name: name, Namespace: "shop", Selector: map[string]string{"app": "api"}, Ports: ports}
	}
	w := Workload{
		Name: "api-1", Namespace: "shop", Labels: map[string]string{"app": "api"},
		Ports: []WorkloadPort{{Name: "web", Port: 8080}, {Name: "grpc", Port: 9090}, {Name: "raw", Port: 7000}},
	}
	tests := []struct {
		name     string
		services []Service
		port     uint32
		want     Protocol
	}{
		{"no service", nil, 8080, ProtocolTCP},
		{"http by number", []Service{svc("a", ServicePort{Port: 80, TargetPort: 8080, AppProtocol: "http"})}, 8080, ProtocolHTTP},
		{"http by target name", []Service{svc("a", ServicePort{Port: 80, TargetPortName: "web", Name: "http"})}, 8080, ProtocolHTTP},
		{"other port only", []Service{svc("a", ServicePort{Port: 80, TargetPort: 9090, AppProtocol: "http"})}, 8080, ProtocolTCP},
		{"grpc", []Service{svc("a", ServicePort{Port: 90, TargetPortName: "grpc", AppProtocol: "grpc"})}, 9090, ProtocolGRPC},
		{
			"http and tcp services",
			[]Service{
				svc("a", ServicePort{Port: 80, TargetPort: 8080, AppProtocol: "http"}),
				svc("b", ServicePort{Port: 8080, TargetPort: 8080, AppProtocol: "tcp"}),
			},
			8080, ProtocolTCP,
		},
		{
			"http and tcp ports of one service",
			[]Service{svc("a", ServicePort{Port: 80, TargetPort: 8080, Name: "http"}, ServicePort{Port: 81, TargetPortName: "web", Name: "tcp-web"})},
			8080, ProtocolTCP,
		},
		{
			"http and undeclared ports of one service",
			[]Service{svc("a", ServicePort{Port: 80, TargetPort: 8080, Name: "http"}, ServicePort{Port: 81, TargetPortName: "web"})},
			8080, ProtocolAuto,
		},
		{
			"undeclared and tcp services",
			[]Service{
				svc("a", ServicePort{Port: 80, TargetPort: 8080, Name: "web"}),
				svc("b", ServicePort{Port: 8080, TargetPort: 8080, AppProtocol: "tcp"}),
			},
			8080, ProtocolTCP,
		},
		{
			"grpc and http2",
			[]Service{
				svc("a", ServicePort{Port: 90, TargetPort: 9090, AppProtocol: "grpc"}),
				svc("b", ServicePort{Port: 90, TargetPort: 9090, AppProtocol: "kubernetes.io/h2c"}),
			},
			9090, ProtocolHTTP2,
		},
		{
			"grpc and http/1.1",
			[]Service{
				svc("a", ServicePort{Port: 90, TargetPort: 9090, AppProtocol: "grpc"}),
				svc("b", ServicePort{Port: 90, TargetPort: 9090, AppProtocol: "http"}),
			},
			9090, ProtocolHTTP,
		},
		{
			"tcp service in another namespace is ignored",
			[]Service{
				svc("a", ServicePort{Port: 80, TargetPort: 8080, AppProtocol: "http"}),
				{Name: "b", Namespace: "other", Selector: map[string]string{"app": "api"}, Ports: []ServicePort{{Port: 80, TargetPort: 8080}}},
			},
			8080, ProtocolHTTP,
		},
		{
			"tcp service that does not select the workload is ignored",
			[]Service{
				svc("a", ServicePort{Port: 80, TargetPort: 8080, AppProtocol: "http"}),
				{Name: "b", Namespace: "shop", Selector: map[string]string{"app": "web"}, Ports: []ServicePort{{Port: 80, TargetPort: 8080}}},
			},
			8080, ProtocolHTTP,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Mesh{Services: tt.services, Workloads: []Workload{w}}
			m.Sort()
			var port WorkloadPort
			for _, p := range w.Ports {
				if p.Port == tt.port {
					port = p
				}
			}
			if got := m.InboundProtocol(&w, port); got != tt.want {
				t.Errorf("InboundProtocol(port %d) = %v, want %v", tt.port, got, tt.want)
			}
		})
	}
}
