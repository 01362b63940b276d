// Package timestamp obtains and verifies RFC 3161 time-stamp tokens, so that the time at
// which a run manifest or a bundle's SHA256SUMS existed rests on an independent
// time-stamping authority (TSA) instead of Exhibit's own signing key.
//
// A token is kept as the TSA's whole DER TimeStampResp (what `openssl ts -reply` writes and
// `openssl ts -verify -in` reads). Verify checks everything an auditor relies on: the TSA
// granted the request, the message imprint is SHA-256 of exactly the stamped data, the
// signature over the token, the signer certificate's chain to the configured CA with the
// time-stamping extended key usage at the token's time, the nonce of the request, and that
// genTime lies within the window the caller expects.
//
// ASN.1 and CMS are left to github.com/digitorus/timestamp and github.com/digitorus/pkcs7,
// the RFC 3161 implementation sigstore's timestamp authority is built on.
package timestamp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/digitorus/pkcs7"
	rfc3161 "github.com/digitorus/timestamp"
)

// MaxResponseSize bounds a TSA's answer; real responses with a certificate chain are a few KiB.
const MaxResponseSize = 1 << 20

// Authority is one configured time-stamping authority.
type Authority struct {
	// URL is the TSA's HTTP(S) endpoint (RFC 3161 §3.4, application/timestamp-query).
	URL string
	// Roots are the CA certificates a token's signer must chain to.
	Roots *x509.CertPool
	// Intermediates are extra certificates for building that chain (the TSA's token usually
	// carries its own).
	Intermediates []*x509.Certificate
	// Policy is the TSA policy OID to request, if the TSA wants one ("" for its default).
	Policy string
	// Username and Password, if set, are sent as HTTP basic authentication.
	Username, Password string
	// Header holds extra request headers (e.g. an API key some TSAs require).
	Header http.Header
	// Timeout bounds one request (0: 10 s).
	Timeout time.Duration
	// Client makes the request (nil: http.DefaultClient).
	Client *http.Client
	// Now is the clock used to bound genTime (nil: time.Now).
	Now func() time.Time
}

// Token is a verified time-stamp token.
type Token struct {
	// Response is the TSA's DER TimeStampResp, exactly as received.
	Response []byte
	// GenTime is the time the TSA asserts the data existed.
	GenTime time.Time
	// Accuracy is the TSA's stated accuracy of GenTime (0 if none).
	Accuracy time.Duration
	// Serial is the token's serial number.
	Serial *big.Int
	// Policy is the TSA policy under which the token was issued.
	Policy string
	// Signer is the TSA certificate that signed the token.
	Signer *x509.Certificate
	// Chain is the verified chain from the signer to a configured root.
	Chain []*x509.Certificate
}

// Stamp asks the authority for a token over the SHA-256 digest, verifies the answer against
// the request (imprint, nonce, policy) and the configured roots, and returns it. genTime
// must lie between the request's start and its end (plus the TSA's accuracy).
func (a *Authority) Stamp(ctx context.Context, digest [32]byte) (*Token, error) {
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, err
	}
	var policy asn1.ObjectIdentifier
	if a.Policy != "" {
		if policy, err = ParseOID(a.Policy); err != nil {
			return nil, err
		}
	}
	req := &rfc3161.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest[:], Certificates: true,
		Nonce: nonce, TSAPolicyOID: policy}
	body, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("could not encode the time-stamp request: %w", err)
	}
	timeout := a.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("time-stamping authority %s: %w", a.URL, err)
	}
	hreq.Header.Set("Content-Type", "application/timestamp-query")
	hreq.Header.Set("Accept", "application/timestamp-reply")
	for k, vs := range a.Header {
		for _, v := range vs {
			hreq.Header.Add(k, v)
		}
	}
	if a.Username != "" || a.Password != "" {
		hreq.SetBasicAuth(a.Username, a.Password)
	}
	client := a.Client
	if client == nil {
		client = http.DefaultClient
	}
	now := a.now()
	start := now()
	resp, err := client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("time-stamping authority %s: %w", a.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("time-stamping authority %s answered %s", a.URL, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/timestamp-reply") {
		return nil, fmt.Errorf("time-stamping authority %s answered %q, not application/timestamp-reply", a.URL, ct)
	}
	der, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, fmt.Errorf("time-stamping authority %s: reading the answer: %w", a.URL, err)
	}
	if len(der) > MaxResponseSize {
		return nil, fmt.Errorf("time-stamping authority %s: answer larger than %d bytes", a.URL, MaxResponseSize)
	}
	tok, err := Verify(der, digest, VerifyOptions{Roots: a.Roots, Intermediates: a.Intermediates, Nonce: nonce,
		Policy: a.Policy, NotBefore: start, NotAfter: now()})
	if err != nil {
		return nil, fmt.Errorf("time-stamping authority %s: %w", a.URL, err)
	}
	return tok, nil
}

func (a *Authority) now() func() time.Time {
	if a.Now != nil {
		return a.Now
	}
	return time.Now
}

// VerifyOptions say what a token must satisfy besides its imprint.
type VerifyOptions struct {
	// Roots are the trusted CA certificates; required.
	Roots *x509.CertPool
	// Intermediates are extra certificates for building the chain.
	Intermediates []*x509.Certificate
	// Nonce, if set, must equal the token's nonce (the one sent in the request).
	Nonce *big.Int
	// Policy, if set, must equal the token's policy OID.
	Policy string
	// NotBefore and NotAfter, if set, bound genTime (widened by the token's accuracy).
	NotBefore, NotAfter time.Time
}

// Errors Verify wraps, for callers that report them by kind.
var (
	ErrImprint = errors.New("time-stamp token is over other data")
	ErrChain   = errors.New("time-stamp token's signer does not chain to the configured CA")
	ErrTime    = errors.New("time-stamp token's time lies outside the expected window")
	ErrNonce   = errors.New("time-stamp token's nonce does not match the request")
)

// Verify checks a DER TimeStampResp against the SHA-256 digest of the stamped data.
func Verify(der []byte, digest [32]byte, o VerifyOptions) (*Token, error) {
	if o.Roots == nil {
		return nil, errors.New("no CA certificates to verify the time-stamp token against")
	}
	if err := checkStatus(der); err != nil {
		return nil, err
	}
	ts, err := rfc3161.ParseResponse(der)
	if err != nil {
		return nil, fmt.Errorf("time-stamp response: %w", err)
	}
	if ts.HashAlgorithm != crypto.SHA256 {
		return nil, fmt.Errorf("%w: imprint uses %v, not SHA-256", ErrImprint, ts.HashAlgorithm)
	}
	if !bytes.Equal(ts.HashedMessage, digest[:]) {
		return nil, fmt.Errorf("%w: imprint %x, want %x", ErrImprint, ts.HashedMessage, digest[:])
	}
	p7, err := pkcs7.Parse(ts.RawToken)
	if err != nil {
		return nil, fmt.Errorf("time-stamp token: %w", err)
	}
	if len(p7.Signers) != 1 {
		return nil, fmt.Errorf("time-stamp token has %d signers, want 1", len(p7.Signers))
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return nil, errors.New("time-stamp token carries no signer certificate (request it with certReq)")
	}
	inter := x509.NewCertPool()
	for _, c := range p7.Certificates {
		inter.AddCert(c)
	}
	for _, c := range o.Intermediates {
		inter.AddCert(c)
	}
	vo := x509.VerifyOptions{Roots: o.Roots, Intermediates: inter, CurrentTime: ts.Time,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}
	// The signature over the token and the signer's chain at genTime.
	if err := p7.VerifyWithOpts(vo); err != nil {
		if strings.Contains(err.Error(), "certificate chain") {
			return nil, fmt.Errorf("%w: %v", ErrChain, err)
		}
		return nil, fmt.Errorf("time-stamp token signature: %w", err)
	}
	if err := checkSignedBytes(ts.RawToken, signer); err != nil {
		return nil, err
	}
	chains, err := signer.Verify(vo)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrChain, err)
	}
	if !onlyTimeStamping(signer) {
		return nil, fmt.Errorf("%w: the signer certificate's extended key usage must be timeStamping alone, and critical (RFC 3161 §2.3)", ErrChain)
	}
	if o.Nonce != nil && (ts.Nonce == nil || ts.Nonce.Cmp(o.Nonce) != 0) {
		return nil, fmt.Errorf("%w: got %v, sent %v", ErrNonce, ts.Nonce, o.Nonce)
	}
	if o.Policy != "" && ts.Policy.String() != o.Policy {
		return nil, fmt.Errorf("time-stamp token policy %s, requested %s", ts.Policy, o.Policy)
	}
	if !o.NotBefore.IsZero() && ts.Time.Add(ts.Accuracy).Before(o.NotBefore.Truncate(time.Second)) {
		return nil, fmt.Errorf("%w: genTime %s is before %s", ErrTime, ts.Time.UTC().Format(time.RFC3339Nano), o.NotBefore.UTC().Format(time.RFC3339Nano))
	}
	if !o.NotAfter.IsZero() && ts.Time.Add(-ts.Accuracy).After(o.NotAfter) {
		return nil, fmt.Errorf("%w: genTime %s is after %s", ErrTime, ts.Time.UTC().Format(time.RFC3339Nano), o.NotAfter.UTC().Format(time.RFC3339Nano))
	}
	return &Token{Response: der, GenTime: ts.Time, Accuracy: ts.Accuracy, Serial: ts.SerialNumber,
		Policy: ts.Policy.String(), Signer: signer, Chain: chains[0]}, nil
}

// onlyTimeStamping reports whether the certificate's extended key usage is timeStamping
// alone, in a critical extension, as RFC 3161 §2.3 requires of a TSA certificate.
func onlyTimeStamping(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || len(c.UnknownExtKeyUsage) > 0 {
		return false
	}
	for _, e := range c.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 37}) {
			return e.Critical
		}
	}
	return false
}

// ParseOID parses a dotted object identifier such as 1.3.6.1.4.1.4146.2.3.
func ParseOID(s string) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	for _, p := range strings.Split(s, ".") {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != p {
			return nil, fmt.Errorf("%q is not an object identifier (dotted numbers such as 1.2.3.4)", s)
		}
		oid = append(oid, n)
	}
	if len(oid) < 2 {
		return nil, fmt.Errorf("%q is not an object identifier (dotted numbers such as 1.2.3.4)", s)
	}
	return oid, nil
}
