// Package rootpublish keeps the mesh's CA roots in a ConfigMap of every
// namespace labelled for injection, so that injected proxies can verify
// the control plane: the injector mounts that ConfigMap (weft-ca-root, key
// root-cert.pem) where the proxy's --ca-root-file expects it. It follows
// namespaces as they are labelled and the roots as they rotate; a
// ConfigMap someone changed by hand is put back.
package rootpublish
