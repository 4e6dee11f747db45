package dataplane

import (
	"io"
	"os"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"

	"github.com/weftmesh/weft/proxy/accesslog"
)

// parseAccessLogs returns the access log of an HTTP connection manager
// or a tcp_proxy: JSON lines to stdout (StdoutAccessLog) or appended to a
// file (FileAccessLog with a path), or nil when there is none. Other
// loggers are refused, naming their type.
func parseAccessLogs(p *problems, path string, logs []*accesslogv3.AccessLog) *accesslog.Log {
	var sinks []io.Writer
	for i, al := range logs {
		apath := index(path, i)
		p.OnlyFields(apath, al, "name", "typed_config")
		tc := al.GetTypedConfig()
		tpath := field(apath, "typed_config")
		switch tc.GetTypeUrl() {
		case stdoutLogTypeURL:
			var out streamv3.StdoutAccessLog
			if unpackTyped(p, tpath, tc, &out) {
				p.OnlyFields(tpath, &out)
				sinks = append(sinks, os.Stdout)
			}
		case fileLogTypeURL:
			var f filev3.FileAccessLog
			if unpackTyped(p, tpath, tc, &f) {
				p.OnlyFields(tpath, &f, "path")
				if f.GetPath() == "" {
					p.Addf(field(tpath, "path"), "missing")
				} else {
					sinks = append(sinks, accesslog.NewFileWriter(f.GetPath()))
				}
			}
		case "":
			p.Addf(tpath, "missing")
		default:
			p.Addf(tpath, "unsupported access logger %q", tc.GetTypeUrl())
		}
	}
	if len(sinks) == 0 {
		return nil
	}
	return accesslog.New(io.MultiWriter(sinks...))
}

var (
	stdoutLogTypeURL = "type.googleapis.com/" + string((&streamv3.StdoutAccessLog{}).ProtoReflect().Descriptor().FullName())
	fileLogTypeURL   = "type.googleapis.com/" + string((&filev3.FileAccessLog{}).ProtoReflect().Descriptor().FullName())
)
