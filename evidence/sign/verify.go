package sign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/exhibit-dev/exhibit/evidence"
)

// ErrBadSignature is wrapped by every verification failure: the signature does not verify,
// was made by another key, for another namespace, or cannot be parsed.
var ErrBadSignature = errors.New("signature does not verify")

// Verifier checks signatures against one pinned public key. It is safe for concurrent use.
type Verifier struct {
	pub *ecdsa.PublicKey
	ssh ssh.PublicKey
	fp  string
}

func newVerifier(pub *ecdsa.PublicKey) (*Verifier, error) {
	if pub.Curve != elliptic.P256() {
		return nil, errors.New("the key is not on curve P-256")
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return &Verifier{pub: pub, ssh: sp, fp: ssh.FingerprintSHA256(sp)}, nil
}

// maxPublicKeyInput bounds what ParsePublicKey reads: a P-256 key in any of its forms fits in
// a few hundred bytes; an allowed_signers file with comments in a few KiB.
const maxPublicKeyInput = 64 << 10

// ParsePublicKey parses an ECDSA P-256 public key given as SPKI PEM (signing.pub), as an
// OpenSSH public key line ("ecdsa-sha2-nistp256 AAAA… comment") or as an allowed_signers
// file. Blank lines and #-comments are ignored; exactly one key must be present, so a file
// that names two keys is never silently read as the first.
func ParsePublicKey(data []byte) (*Verifier, error) {
	if len(data) > maxPublicKeyInput {
		return nil, fmt.Errorf("invalid public key: input is larger than %d bytes", maxPublicKeyInput)
	}
	trimmed := trimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		return parsePEMPublicKey(trimmed)
	}
	var found *Verifier
	for i, line := range strings.Split(string(trimmed), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := parseSSHKeyLine(line)
		if err != nil {
			return nil, fmt.Errorf("invalid public key on line %d: %w", i+1, err)
		}
		if found != nil && !found.Equal(v) {
			return nil, fmt.Errorf("invalid public key: line %d names a second key (%s after %s)", i+1, v.Fingerprint(), found.Fingerprint())
		}
		found = v
	}
	if found == nil {
		return nil, errors.New("invalid public key: no key found (want SPKI PEM, an OpenSSH public key or an allowed_signers line)")
	}
	return found, nil
}

func parsePEMPublicKey(data []byte) (*Verifier, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("invalid public key: malformed PEM")
	}
	if len(trimSpace(rest)) != 0 {
		return nil, errors.New("invalid public key: unexpected data after the PEM block")
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("invalid public key: PEM block is %q, want \"PUBLIC KEY\"", block.Type)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("invalid public key: %w", err)
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("invalid public key: a %T, want ECDSA P-256", k)
	}
	v, err := newVerifier(pub)
	if err != nil {
		return nil, fmt.Errorf("invalid public key: %w", err)
	}
	return v, nil
}

// parseSSHKeyLine finds the ecdsa-sha2-nistp256 key in an authorized_keys or
// allowed_signers line. Fields are separated by blanks outside double quotes, because
// allowed_signers options may quote lists ("namespaces=\"a, b\"").
func parseSSHKeyLine(line string) (*Verifier, error) {
	fields := splitFields(line)
	for i, f := range fields {
		if f != ssh.KeyAlgoECDSA256 {
			continue
		}
		if i+1 >= len(fields) {
			return nil, errors.New("key type without key data")
		}
		blob, err := base64.StdEncoding.Strict().DecodeString(fields[i+1])
		if err != nil {
			return nil, fmt.Errorf("key data is not base64: %w", err)
		}
		return parseSSHWireKey(blob)
	}
	return nil, fmt.Errorf("no %s key in the line (only ECDSA P-256 keys are used)", ssh.KeyAlgoECDSA256)
}

func parseSSHWireKey(blob []byte) (*Verifier, error) {
	sp, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return nil, fmt.Errorf("invalid SSH public key: %w", err)
	}
	cp, ok := sp.(ssh.CryptoPublicKey)
	if !ok {
		return nil, fmt.Errorf("unsupported SSH key type %s", sp.Type())
	}
	pub, ok := cp.CryptoPublicKey().(*ecdsa.PublicKey)
	if !ok || sp.Type() != ssh.KeyAlgoECDSA256 {
		return nil, fmt.Errorf("unsupported SSH key type %s, want %s", sp.Type(), ssh.KeyAlgoECDSA256)
	}
	return newVerifier(pub)
}

func splitFields(line string) []string {
	var fields []string
	var cur strings.Builder
	inQuote := false
	for _, r := range line {
		switch {
		case r == '"':
			inQuote = !inQuote
			cur.WriteRune(r)
		case (r == ' ' || r == '\t') && !inQuote:
			if cur.Len() > 0 {
				fields = append(fields, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		fields = append(fields, cur.String())
	}
	return fields
}

func trimSpace(b []byte) []byte { return bytes.TrimSpace(b) }

// Fingerprint returns the key's OpenSSH fingerprint, e.g. "SHA256:q0ZQ…", exactly as
// `ssh-keygen -l` prints it.
func (v *Verifier) Fingerprint() string { return v.fp }

// Equal reports whether v and o hold the same public key.
func (v *Verifier) Equal(o *Verifier) bool {
	return o != nil && bytes.Equal(v.ssh.Marshal(), o.ssh.Marshal())
}

// PublicKeyPEM returns the public key as SPKI PEM, the signing.pub that openssl reads.
func (v *Verifier) PublicKeyPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(v.pub)
	if err != nil {
		// A P-256 key always marshals; anything else was refused by newVerifier.
		panic(fmt.Sprintf("sign: cannot marshal a P-256 public key: %v", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// AllowedSigners returns the allowed_signers line that `ssh-keygen -Y verify -I exhibit`
// needs: `exhibit namespaces="exhibit-bundle,exhibit-run" ecdsa-sha2-nistp256 AAAA…`.
func (v *Verifier) AllowedSigners() []byte {
	return fmt.Appendf(nil, "%s namespaces=\"%s,%s\" %s %s\n", Principal, NamespaceBundle, NamespaceRun,
		v.ssh.Type(), base64.StdEncoding.EncodeToString(v.ssh.Marshal()))
}

// AuthorizedKey returns the key as one OpenSSH public key line with the comment "exhibit",
// the form `ssh-keygen -l -f` and authorized_keys files read.
func (v *Verifier) AuthorizedKey() []byte {
	return fmt.Appendf(nil, "%s %s %s\n", v.ssh.Type(), base64.StdEncoding.EncodeToString(v.ssh.Marshal()), Principal)
}

// VerifyDER checks an ASN.1 DER ECDSA signature over digest.
func (v *Verifier) VerifyDER(digest evidence.Digest, der []byte) error {
	if len(der) == 0 {
		return fmt.Errorf("%w: empty DER signature", ErrBadSignature)
	}
	if !ecdsa.VerifyASN1(v.pub, digest[:], der) {
		return fmt.Errorf("%w: DER signature over %s is not by key %s", ErrBadSignature, digest, v.fp)
	}
	return nil
}

// VerifySSH checks an armored SSHSIG signature over the message whose SHA-256 is digest. It
// fails unless the signature was made by this verifier's key, for namespace, with hash
// algorithm sha256 (ssh-keygen signs with sha512 unless given -O hashalg=sha256, and a
// sha512 signature cannot be checked against a SHA-256 digest).
func (v *Verifier) VerifySSH(namespace string, digest evidence.Digest, armored []byte) error {
	blob, err := unarmorSSHSig(armored)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	sig, err := parseSSHSig(blob)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if sig.namespace != namespace {
		return fmt.Errorf("%w: SSHSIG was made for namespace %q, want %q", ErrBadSignature, sig.namespace, namespace)
	}
	if sig.hashAlg != "sha256" {
		return fmt.Errorf("%w: SSHSIG uses hash algorithm %q, want \"sha256\" (ssh-keygen: -O hashalg=sha256)", ErrBadSignature, sig.hashAlg)
	}
	if !bytes.Equal(sig.publicKey, v.ssh.Marshal()) {
		other := "an unparseable key"
		if o, err := parseSSHWireKey(sig.publicKey); err == nil {
			other = o.Fingerprint()
		}
		return fmt.Errorf("%w: SSHSIG was made by key %s, want %s", ErrBadSignature, other, v.fp)
	}
	var s ssh.Signature
	if err := ssh.Unmarshal(sig.signature, &s); err != nil {
		return fmt.Errorf("%w: malformed SSHSIG signature: %v", ErrBadSignature, err)
	}
	if len(s.Rest) != 0 || s.Format != ssh.KeyAlgoECDSA256 {
		return fmt.Errorf("%w: SSHSIG signature has format %q, want %s", ErrBadSignature, s.Format, ssh.KeyAlgoECDSA256)
	}
	if err := v.ssh.Verify(sshsigSignedDataWith(namespace, sig.reserved, digest), &s); err != nil {
		return fmt.Errorf("%w: SSHSIG over %s does not verify with key %s", ErrBadSignature, digest, v.fp)
	}
	return nil
}
