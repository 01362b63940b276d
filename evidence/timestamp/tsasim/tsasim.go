// Package tsasim is a local RFC 3161 time-stamping authority with its own CA (root →
// intermediate → TSA certificate), for tests, benchmarks and `exhibit demo`, like the
// platform simulators in connectors/*/sim. It answers application/timestamp-query requests
// with tokens that `openssl ts -verify` accepts, and can be told to misbehave.
package tsasim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	rfc3161 "github.com/digitorus/timestamp"

	"github.com/exhibit-dev/exhibit/evidence/timestamp"
)

// Fault is a way the simulated TSA misbehaves.
type Fault string

// The faults the simulator can inject.
const (
	// None answers correctly.
	None Fault = ""
	// ServerError answers HTTP 500.
	ServerError Fault = "server_error"
	// Rejection answers a TimeStampResp with status rejection (badRequest).
	Rejection Fault = "rejection"
	// Garbage answers bytes that are not a TimeStampResp.
	Garbage Fault = "garbage"
	// OtherImprint stamps a different digest than the one asked for.
	OtherImprint Fault = "other_imprint"
	// WrongNonce answers with a nonce other than the request's.
	WrongNonce Fault = "wrong_nonce"
	// OtherCA signs with a TSA certificate of another, unrelated CA.
	OtherCA Fault = "other_ca"
)

// Options configure the simulator.
type Options struct {
	// Latency delays every answer.
	Latency time.Duration
	// Skew is added to the clock the tokens carry (genTime), to test the time window.
	Skew time.Duration
	// Policy is the TSA policy OID of the tokens (default 1.3.6.1.4.1.99999.1, a private OID).
	Policy string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// TSA is a simulated time-stamping authority.
type TSA struct {
	opts   Options
	policy asn1.ObjectIdentifier

	root, inter, leaf *x509.Certificate
	leafKey           crypto.Signer
	other             *x509.Certificate // a TSA certificate of an unrelated CA, for OtherCA
	otherKey          crypto.Signer

	mu       sync.Mutex
	fault    Fault
	requests atomic.Int64
}

// New creates a TSA with a fresh CA.
func New(o Options) (*TSA, error) {
	if o.Policy == "" {
		o.Policy = "1.3.6.1.4.1.99999.1"
	}
	t := &TSA{opts: o}
	var err error
	if t.policy, err = timestamp.ParseOID(o.Policy); err != nil {
		return nil, err
	}
	var rootKey, interKey crypto.Signer
	if t.root, rootKey, err = newCert("Exhibit simulated TSA root CA", nil, nil, true, false); err != nil {
		return nil, err
	}
	if t.inter, interKey, err = newCert("Exhibit simulated TSA intermediate CA", t.root, rootKey, true, false); err != nil {
		return nil, err
	}
	if t.leaf, t.leafKey, err = newCert("Exhibit simulated TSA", t.inter, interKey, false, true); err != nil {
		return nil, err
	}
	otherRoot, otherRootKey, err := newCert("Unrelated CA", nil, nil, true, false)
	if err != nil {
		return nil, err
	}
	if t.other, t.otherKey, err = newCert("Unrelated TSA", otherRoot, otherRootKey, false, true); err != nil {
		return nil, err
	}
	return t, nil
}

// SetFault makes every following answer misbehave as f (None to answer correctly).
func (t *TSA) SetFault(f Fault) {
	t.mu.Lock()
	t.fault = f
	t.mu.Unlock()
}

// Requests is the number of requests answered so far.
func (t *TSA) Requests() int64 { return t.requests.Load() }

// Root is the TSA's root CA certificate.
func (t *TSA) Root() *x509.Certificate { return t.root }

// RootPEM is the root CA certificate in PEM (what `openssl ts -verify -CAfile` takes).
func (t *TSA) RootPEM() []byte { return pemCert(t.root) }

// ChainPEM is the TSA certificate and its intermediate CA in PEM (`-untrusted`).
func (t *TSA) ChainPEM() []byte { return append(pemCert(t.leaf), pemCert(t.inter)...) }

// Roots is a pool with the root CA.
func (t *TSA) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(t.root)
	return p
}

// ServeHTTP answers RFC 3161 requests (POST, application/timestamp-query).
func (t *TSA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t.requests.Add(1)
	if t.opts.Latency > 0 {
		select {
		case <-time.After(t.opts.Latency):
		case <-r.Context().Done():
			return
		}
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST an application/timestamp-query", http.StatusMethodNotAllowed)
		return
	}
	t.mu.Lock()
	fault := t.fault
	t.mu.Unlock()
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return
	}
	reply := func(der []byte) {
		w.Header().Set("Content-Type", "application/timestamp-reply")
		_, _ = w.Write(der)
	}
	switch fault {
	case ServerError:
		http.Error(w, "simulated failure", http.StatusInternalServerError)
		return
	case Garbage:
		reply([]byte("not a time-stamp response"))
		return
	}
	req, err := rfc3161.ParseRequest(body)
	if err != nil || fault == Rejection {
		der, _ := rfc3161.CreateErrorResponse(rfc3161.Rejection, rfc3161.BadRequest)
		reply(der)
		return
	}
	now := time.Now
	if t.opts.Now != nil {
		now = t.opts.Now
	}
	ts := rfc3161.Timestamp{
		HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage,
		Time: now().Add(t.opts.Skew).UTC().Truncate(time.Millisecond), Accuracy: time.Second,
		Nonce: req.Nonce, Policy: t.policy, AddTSACertificate: req.Certificates,
		Certificates: []*x509.Certificate{t.inter},
	}
	if req.TSAPolicyOID != nil {
		ts.Policy = req.TSAPolicyOID
	}
	switch fault {
	case OtherImprint:
		h := append([]byte(nil), req.HashedMessage...)
		h[0] ^= 0xff
		ts.HashedMessage = h
	case WrongNonce:
		ts.Nonce = new(big.Int).Add(req.Nonce, big.NewInt(1))
	}
	leaf, key := t.leaf, t.leafKey
	if fault == OtherCA {
		leaf, key, ts.Certificates = t.other, t.otherKey, nil
	}
	der, err := ts.CreateResponseWithOpts(leaf, key, crypto.SHA256)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	reply(der)
}

// newCert makes an ECDSA P-256 certificate: a CA, or a TSA certificate whose only extended
// key usage is timeStamping in a critical extension (RFC 3161 §2.3). parent nil: self-signed.
func newCert(cn string, parent *x509.Certificate, parentKey crypto.Signer, ca, tsa bool) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: []string{"Exhibit simulator"}},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		BasicConstraintsValid: true, IsCA: ca,
	}
	if ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	if tsa {
		ekuValue, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
		if err != nil {
			return nil, nil, err
		}
		tmpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: ekuValue}}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
