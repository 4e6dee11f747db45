// Package helm embeds Weft's Helm chart (install/helm/weft) and renders it
// with Helm's own template engine, so that weftctl install, the one-file
// manifest install/weft.yaml (make generate) and `helm install` produce the
// same objects from one source. It renders only: applying is weftctl's.
//
// Rendering uses Helm's loader, chartutil and engine packages, not its
// action package, which would bring in release storage and a client of its
// own. What Render returns is decoded, labelled for pruning and sorted in
// the order an installer must create it (Order), so its YAML is the same
// bytes for the same values, and `make verify` can compare it.
package helm
