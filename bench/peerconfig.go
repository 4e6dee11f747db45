package bench

import (
	"fmt"
	"net/netip"
	"strings"
)

// PeerSpec is one peer proxy process: the client side listens in plaintext
// on Listen and proxies over mTLS to Upstream; the server side terminates
// mTLS on Listen and proxies in plaintext to Upstream (the app).
type PeerSpec struct {
	ServerSide bool
	Listen     netip.AddrPort
	Upstream   netip.AddrPort
	Dir        string // working directory: pid file, logs, temporary files
	// Certificate files: the CA, and this side's certificate and key
	// (HAProxy wants both in Bundle).
	CAFile, CertFile, KeyFile, Bundle string
}

// NginxConfig renders an nginx configuration for spec: one worker (the
// proxy gets one CPU), TLS 1.3 only, upstream keep-alive on, otherwise
// nginx's defaults.
func NginxConfig(spec PeerSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, `daemon off;
master_process on;
user root;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events {
    worker_connections 8192;
}
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream up {
        server %[2]s;
        keepalive 128;
    }
    server {
`, spec.Dir, spec.Upstream)
	if spec.ServerSide {
		fmt.Fprintf(&b, `        listen %s ssl;
        ssl_protocols TLSv1.3;
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_client_certificate %s;
        ssl_verify_client on;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
`, spec.Listen, spec.CertFile, spec.KeyFile, spec.CAFile)
	} else {
		fmt.Fprintf(&b, `        listen %s;
        location / {
            proxy_pass https://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_protocols TLSv1.3;
            proxy_ssl_certificate %s;
            proxy_ssl_certificate_key %s;
            proxy_ssl_trusted_certificate %s;
            proxy_ssl_verify on;
            proxy_ssl_name %s;
        }
`, spec.Listen, spec.CertFile, spec.KeyFile, spec.CAFile, serverName)
	}
	b.WriteString("    }\n}\n")
	return b.String()
}

// HAProxyConfig renders an HAProxy configuration for spec: one thread, HTTP
// mode with HAProxy's default keep-alive and connection reuse, TLS 1.3
// only, otherwise HAProxy's defaults.
func HAProxyConfig(spec PeerSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    nbthread 1
    pidfile %s/haproxy.pid
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend in
`, spec.Dir)
	if spec.ServerSide {
		fmt.Fprintf(&b, "    bind %s ssl crt %s ca-file %s verify required ssl-min-ver TLSv1.3\n", spec.Listen, spec.Bundle, spec.CAFile)
		fmt.Fprintf(&b, "    default_backend up\nbackend up\n    server app %s\n", spec.Upstream)
	} else {
		fmt.Fprintf(&b, "    bind %s\n", spec.Listen)
		fmt.Fprintf(&b, "    default_backend up\nbackend up\n    server mesh %s ssl crt %s ca-file %s verify required verifyhost %s sni str(%s) ssl-min-ver TLSv1.3\n",
			spec.Upstream, spec.Bundle, spec.CAFile, serverName, serverName)
	}
	return b.String()
}
