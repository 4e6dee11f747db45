// Package tcpproxy copies bytes between two established connections, the
// last step of every proxied TCP connection.
//
// Join runs one copy loop per direction. When one side finishes sending
// (EOF), the other side's write half is closed (CloseWrite on *net.TCPConn
// and *tls.Conn, a TLS close_notify) while bytes keep flowing the other way,
// so protocols that rely on half-close work through the proxy. An optional
// idle timeout ends the pair when neither direction has carried a byte for
// that long, and optional counters observe bytes as they are copied.
package tcpproxy
