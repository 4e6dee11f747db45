// Package controlplane runs Weft's control plane: it builds the mesh model
// from its source (a directory of YAML in standalone mode), serves every
// proxy its configuration over ADS, and issues workload certificates, both
// on one TLS port (15012), with metrics and debug pages on another (15014).
//
// The pieces live in subpackages: model (the mesh), configdir (standalone
// source), translate (model to Envoy v3), xds (serving), ca (identity).
package controlplane
