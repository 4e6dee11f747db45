package ca

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	cav1 "github.com/weftmesh/weft/api/ca/v1"
	"github.com/weftmesh/weft/meshid"
)

// maxCSRBytes bounds the CSR a caller may send; real ones are well under 2 KiB.
const maxCSRBytes = 64 << 10

// Issuer signs certificates for one trust domain. *Authority implements it;
// so can an upstream CA or SPIRE-backed issuer.
type Issuer interface {
	TrustDomain() spiffeid.TrustDomain
	Sign(csr *x509.CertificateRequest, id spiffeid.ID, ttl time.Duration) ([]*x509.Certificate, error)
	Bundle() []*x509.Certificate
}

// ServiceConfig tunes the lifetimes a Service grants.
type ServiceConfig struct {
	// DefaultTTL is granted when a request names no TTL. Default 24h.
	DefaultTTL time.Duration
	// MaxTTL is the longest TTL a request may ask for; longer ones are
	// rejected. Default and upper bound: MaxTTL of this package.
	MaxTTL time.Duration
}

// Default fills zero fields with their defaults.
func (c *ServiceConfig) Default() {
	if c.DefaultTTL == 0 {
		c.DefaultTTL = 24 * time.Hour
	}
	if c.MaxTTL == 0 {
		c.MaxTTL = MaxTTL
	}
}

// Validate reports the first field that is out of range.
func (c *ServiceConfig) Validate() error {
	switch {
	case c.MaxTTL <= 0 || c.MaxTTL > MaxTTL:
		return fmt.Errorf("MaxTTL %s: must be in (0, %s]", c.MaxTTL, MaxTTL)
	case c.DefaultTTL <= 0 || c.DefaultTTL > c.MaxTTL:
		return fmt.Errorf("DefaultTTL %s: must be in (0, MaxTTL=%s]", c.DefaultTTL, c.MaxTTL)
	}
	return nil
}

// Service serves weft.ca.v1.CertificateService: it authenticates the
// caller's bearer token, derives the caller's SPIFFE ID from the namespace
// and service account the token stands for, and has the Issuer sign the CSR
// for that ID.
type Service struct {
	cav1.UnimplementedCertificateServiceServer

	issuer  Issuer
	authn   Authenticator
	cfg     ServiceConfig
	metrics *metrics
	log     *slog.Logger
}

// NewService returns a Service. Zero fields of cfg take their defaults. A
// nil log discards. The counter weft_ca_certificates_total is registered on
// reg (nothing is registered when reg is nil).
func NewService(issuer Issuer, authn Authenticator, cfg ServiceConfig, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	if issuer == nil || authn == nil {
		return nil, errors.New("CA service needs an issuer and an authenticator")
	}
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("CA service config: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{issuer: issuer, authn: authn, cfg: cfg, metrics: m, log: log}, nil
}

// CreateCertificate implements cav1.CertificateServiceServer.
func (s *Service) CreateCertificate(ctx context.Context, req *cav1.CreateCertificateRequest) (*cav1.CreateCertificateResponse, error) {
	log := s.log.With("peer", peerAddr(ctx))

	token, err := bearerToken(ctx)
	if err != nil {
		return nil, s.refuse(ctx, log, err)
	}
	ns, sa, err := s.authn.Authenticate(ctx, token)
	if err != nil {
		return nil, s.refuse(ctx, log, err)
	}
	id, err := meshid.Workload(s.issuer.TrustDomain(), ns, sa)
	if err != nil {
		s.metrics.rejected(reasonInternal)
		log.ErrorContext(ctx, "authenticated identity is not a valid SPIFFE ID", "namespace", ns, "service_account", sa, "error", err)
		return nil, status.Error(codes.Internal, "authenticated identity is not a valid SPIFFE ID")
	}
	log = log.With("spiffe_id", id.String())

	ttl, csr, err := s.parseRequest(req)
	if err != nil {
		return nil, s.fail(ctx, log, err)
	}
	chain, err := s.issuer.Sign(csr, id, ttl)
	if err != nil {
		return nil, s.fail(ctx, log, err)
	}
	s.metrics.issued()
	leaf := chain[0]
	log.InfoContext(ctx, "certificate issued", "serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter)
	return response(chain, s.issuer.Bundle()), nil
}

// fail turns a request or signing failure into the status the caller sees:
// InvalidArgument with the reason for a rejection, Internal otherwise.
func (s *Service) fail(ctx context.Context, log *slog.Logger, err error) error {
	if rej, ok := errors.AsType[*RejectionError](err); ok {
		s.metrics.rejected(string(rej.Reason))
		log.WarnContext(ctx, "certificate request rejected", "reason", rej.Reason, "detail", rej.Detail)
		return status.Error(codes.InvalidArgument, err.Error())
	}
	s.metrics.rejected(reasonInternal)
	log.ErrorContext(ctx, "certificate signing failed", "error", err)
	return status.Error(codes.Internal, "certificate signing failed")
}

// refuse turns an authentication failure into the status the caller sees.
func (s *Service) refuse(ctx context.Context, log *slog.Logger, err error) error {
	if !IsUnauthenticated(err) {
		s.metrics.rejected(reasonInternal)
		log.ErrorContext(ctx, "authenticating a CA caller failed", "error", err)
		return status.Error(codes.Internal, "authentication failed")
	}
	s.metrics.rejected(reasonUnauthenticated)
	log.WarnContext(ctx, "certificate request unauthenticated", "detail", err.Error())
	return status.Error(codes.Unauthenticated, err.Error())
}

// parseRequest resolves the TTL and parses the CSR; its errors are
// *RejectionError.
func (s *Service) parseRequest(req *cav1.CreateCertificateRequest) (time.Duration, *x509.CertificateRequest, error) {
	ttl := s.cfg.DefaultTTL
	if req.GetTtl() != nil {
		if err := req.GetTtl().CheckValid(); err != nil {
			// protobuf's own message is deliberately unstable; say it plainly.
			return 0, nil, reject(ReasonBadTTL, "TTL of %d seconds and %d nanoseconds is not a valid duration",
				req.GetTtl().GetSeconds(), req.GetTtl().GetNanos())
		}
		ttl = req.GetTtl().AsDuration()
		if ttl > s.cfg.MaxTTL {
			return 0, nil, reject(ReasonBadTTL, "TTL %s exceeds the maximum of %s", ttl, s.cfg.MaxTTL)
		}
	}
	der := req.GetCsr()
	switch {
	case len(der) == 0:
		return 0, nil, reject(ReasonMalformed, "no CSR in the request")
	case len(der) > maxCSRBytes:
		return 0, nil, reject(ReasonMalformed, "CSR of %d bytes exceeds %d", len(der), maxCSRBytes)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		if rej := unparsableKey(der); rej != nil {
			return 0, nil, rej
		}
		return 0, nil, reject(ReasonMalformed, "CSR is not DER PKCS#10: %v", err)
	}
	return ttl, csr, nil
}

func response(chain, bundle []*x509.Certificate) *cav1.CreateCertificateResponse {
	resp := &cav1.CreateCertificateResponse{
		CertChain:   make([][]byte, 0, len(chain)),
		TrustBundle: make([][]byte, 0, len(bundle)),
	}
	for _, c := range chain {
		resp.CertChain = append(resp.CertChain, c.Raw)
	}
	for _, c := range bundle {
		resp.TrustBundle = append(resp.TrustBundle, c.Raw)
	}
	return resp
}

// bearerToken returns the token of the request's "authorization: Bearer"
// metadata; its errors match ErrUnauthenticated.
func bearerToken(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	switch len(values) {
	case 0:
		return "", fmt.Errorf("%w: missing authorization metadata (want \"Bearer <token>\")", ErrUnauthenticated)
	case 1:
	default:
		return "", fmt.Errorf("%w: %d authorization values, want one", ErrUnauthenticated, len(values))
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: authorization is not of the form \"Bearer <token>\"", ErrUnauthenticated)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", fmt.Errorf("%w: empty bearer token", ErrUnauthenticated)
	}
	return token, nil
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}
