// Package cav1 is the gRPC API of the Weft certificate authority
// (weft.ca.v1.CertificateService): a workload sends a PKCS#10 CSR with a
// bearer token and gets back an X.509 SVID chain and the trust bundle.
//
// ca.pb.go and ca_grpc.pb.go are generated from ca.proto by hack/protoc.sh;
// do not edit them by hand.
package cav1
