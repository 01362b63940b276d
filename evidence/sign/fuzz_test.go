package sign

import (
	"testing"

	"github.com/exhibit-dev/exhibit/evidence"
)

// fuzzDigest is the digest the seed signatures in testdata/fuzz/FuzzVerifySSH were made over
// with testdata/fixed.key.
var fuzzDigest = evidence.Sum([]byte("exhibit fuzz seed"))

// FuzzParsePublicKey feeds arbitrary bytes to ParsePublicKey: it must never panic, and a key
// it accepts must survive a round trip through every form we write.
func FuzzParsePublicKey(f *testing.F) {
	v := fixedSigner(f).Verifier()
	f.Add(v.PublicKeyPEM())
	f.Add(v.AuthorizedKey())
	f.Add(v.AllowedSigners())
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParsePublicKey(data)
		if err != nil {
			return
		}
		for _, form := range [][]byte{got.PublicKeyPEM(), got.AuthorizedKey(), got.AllowedSigners()} {
			again, err := ParsePublicKey(form)
			if err != nil {
				t.Fatalf("our own encoding %q does not parse: %v", form, err)
			}
			if !again.Equal(got) || again.Fingerprint() != got.Fingerprint() {
				t.Fatalf("round trip changed the key: %s → %s", got.Fingerprint(), again.Fingerprint())
			}
		}
	})
}

// FuzzVerifySSH feeds arbitrary armored signatures and namespaces to VerifySSH and VerifyDER:
// they must never panic, and nothing but a real signature of the fixed key may verify.
func FuzzVerifySSH(f *testing.F) {
	s := fixedSigner(f)
	sig, err := s.Sign(NamespaceRun, fuzzDigest)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(NamespaceRun, sig.SSH, sig.DER)
	f.Add(NamespaceBundle, sig.SSH, sig.DER)
	v := s.Verifier()
	f.Fuzz(func(t *testing.T, namespace string, armored, der []byte) {
		if err := v.VerifySSH(namespace, fuzzDigest, armored); err == nil && namespace != NamespaceRun {
			t.Fatalf("SSHSIG for namespace %q verified, but only %q signatures were ever made", namespace, NamespaceRun)
		}
		_ = v.VerifyDER(fuzzDigest, der)
	})
}
