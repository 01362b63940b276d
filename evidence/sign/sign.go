// Package sign signs and verifies evidence with an ECDSA P-256 key kept in files.
//
// Every signature is made in two formats over the same SHA-256 digest, so an auditor can
// check it with whichever standard tool they trust, without trusting Exhibit:
//
//   - DER: an ASN.1 ECDSA signature over the digest, as
//     `openssl dgst -sha256 -verify signing.pub -signature file.sig file` expects;
//   - SSHSIG: an armored OpenSSH signature (PROTOCOL.sshsig, hash algorithm sha256), as
//     `ssh-keygen -Y verify -f allowed_signers -I exhibit -n <namespace> -s file.sshsig < file`
//     expects. The namespace separates bundle signatures from run manifest signatures, so a
//     signature made for one can never be passed off as the other.
//
// A key directory holds three files: signing.key (the private key, PKCS#8 PEM, mode 0600),
// signing.pub (SPKI PEM) and allowed_signers (one OpenSSH allowed_signers line). The key is
// identified by its OpenSSH fingerprint, "SHA256:" and the unpadded base64 SHA-256 of the
// SSH wire form of the public key, which is what `ssh-keygen -l` prints.
package sign

import (
	"crypto/ecdsa"
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/exhibit-dev/exhibit/evidence"
)

// Namespaces of SSHSIG signatures, and the principal named in allowed_signers.
const (
	// NamespaceBundle is the namespace of signatures over a bundle's SHA256SUMS.
	NamespaceBundle = "exhibit-bundle"
	// NamespaceRun is the namespace of signatures over a run manifest.
	NamespaceRun = "exhibit-run"
	// Principal is the identity in allowed_signers, passed to `ssh-keygen -Y verify -I`.
	Principal = "exhibit"
)

// Names of the files in a key directory.
const (
	KeyFile            = "signing.key"
	PublicKeyFile      = "signing.pub"
	AllowedSignersFile = "allowed_signers"
)

// Signer signs digests with a private key loaded from, or generated into, a key directory.
// It is safe for concurrent use.
type Signer struct {
	key *ecdsa.PrivateKey
	ssh ssh.Signer
	v   *Verifier
	dir string
}

// Signature is one signature in the two formats an auditor can check with standard tools.
type Signature struct {
	// DER is the ECDSA P-256 signature over the SHA-256 digest, ASN.1 DER encoded
	// (openssl dgst -sha256 -verify).
	DER []byte
	// SSH is the armored SSHSIG signature with hash algorithm sha256 (ssh-keygen -Y verify).
	SSH []byte
}

func newSigner(key *ecdsa.PrivateKey, dir string) (*Signer, error) {
	sshSigner, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return nil, fmt.Errorf("could not use the signing key in %s: %w", dir, err)
	}
	v, err := newVerifier(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("could not use the signing key in %s: %w", dir, err)
	}
	return &Signer{key: key, ssh: sshSigner, v: v, dir: dir}, nil
}

// Fingerprint returns the key's OpenSSH fingerprint, e.g. "SHA256:q0ZQ…", exactly as
// `ssh-keygen -l` prints it.
func (s *Signer) Fingerprint() string { return s.v.Fingerprint() }

// Verifier returns the verifier of the signer's public key.
func (s *Signer) Verifier() *Verifier { return s.v }

// Dir returns the key directory the signer was loaded from or generated into.
func (s *Signer) Dir() string { return s.dir }

// Sign signs digest, the SHA-256 of the message bytes, in both formats. namespace is
// NamespaceBundle or NamespaceRun (any non-empty namespace is accepted, for callers that
// sign other things). Sign verifies both signatures before returning them, so a faulty
// key or machine never yields evidence that fails verification later.
func (s *Signer) Sign(namespace string, digest evidence.Digest) (Signature, error) {
	if namespace == "" {
		return Signature{}, fmt.Errorf("could not sign %s: empty namespace", digest)
	}
	der, err := ecdsa.SignASN1(rand.Reader, s.key, digest[:])
	if err != nil {
		return Signature{}, fmt.Errorf("could not sign %s: %w", digest, err)
	}
	sig, err := s.ssh.Sign(rand.Reader, sshsigSignedData(namespace, digest))
	if err != nil {
		return Signature{}, fmt.Errorf("could not sign %s (SSHSIG): %w", digest, err)
	}
	out := Signature{
		DER: der,
		SSH: armorSSHSig(marshalSSHSig(s.v.ssh.Marshal(), namespace, ssh.Marshal(sig))),
	}
	if err := s.v.VerifyDER(digest, out.DER); err != nil {
		return Signature{}, fmt.Errorf("could not sign %s: the new signature does not verify: %w", digest, err)
	}
	if err := s.v.VerifySSH(namespace, digest, out.SSH); err != nil {
		return Signature{}, fmt.Errorf("could not sign %s: the new SSHSIG does not verify: %w", digest, err)
	}
	return out, nil
}
