package sign

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// ErrKeyExists is returned by Generate when the directory already holds key files.
var ErrKeyExists = errors.New("already exists")

// Generate creates a new P-256 key in dir (created with mode 0700 if missing) and writes
// signing.key (PKCS#8 PEM, mode 0600), signing.pub (SPKI PEM) and allowed_signers. It
// refuses, and changes nothing, if any of the three files exists: a signing key is never
// overwritten, because every signature made with it would stop verifying. To rotate, generate
// into a new directory and point the configuration at it.
//
// Each file is written to a temporary name, synced, and then linked to its final name, so a
// crash never leaves a truncated key behind and two concurrent Generates cannot both win.
func Generate(dir string) (*Signer, error) {
	for _, name := range []string{KeyFile, PublicKeyFile, AllowedSignersFile} {
		p := filepath.Join(dir, name)
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("could not generate a signing key in %s: %s %w (keys are never overwritten; to rotate, generate into a new directory)", dir, p, ErrKeyExists)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("could not generate a signing key in %s: %w", dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("could not create the key directory: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("could not generate a signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("could not encode the signing key: %w", err)
	}
	s, err := newSigner(key, dir)
	if err != nil {
		return nil, err
	}
	// The private key goes first: its presence is what marks a directory as holding a key.
	if err := writeNew(dir, KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(dir, PublicKeyFile, s.v.PublicKeyPEM(), 0o644); err != nil {
		return nil, err
	}
	if err := writeNew(dir, AllowedSignersFile, s.v.AllowedSigners(), 0o644); err != nil {
		return nil, err
	}
	return s, nil
}

// Load reads the signing key in dir.
//
// Load REFUSES a private key file that the group or others can read or write (on systems
// with Unix permissions), as OpenSSH does: anyone who can read the key can sign forged
// evidence that verifies as ours, so a loosely protected key is an error to fix (chmod 600),
// not a warning to scroll past. It also refuses a signing.pub that does not match the key,
// because auditors are given that file.
func Load(dir string) (*Signer, error) {
	p := filepath.Join(dir, KeyFile)
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("could not load the signing key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("could not load the signing key: %w", err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("refusing to use the signing key %s: it is accessible by group or others (mode %04o); run: chmod 600 %s", p, st.Mode().Perm(), p)
	}
	data, err := readAllLimited(f, 64<<10)
	if err != nil {
		return nil, fmt.Errorf("could not read the signing key %s: %w", p, err)
	}
	key, err := parsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("could not load the signing key %s: %w", p, err)
	}
	s, err := newSigner(key, dir)
	if err != nil {
		return nil, err
	}
	pubPath := filepath.Join(dir, PublicKeyFile)
	pub, err := os.ReadFile(pubPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A lost public key is harmless: it is derived from the private key. Rewrite it so
		// bundles and auditors keep finding it.
		if err := writeNew(dir, PublicKeyFile, s.v.PublicKeyPEM(), 0o644); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("could not read %s: %w", pubPath, err)
	default:
		v, err := ParsePublicKey(pub)
		if err != nil {
			return nil, fmt.Errorf("could not load %s: %w", pubPath, err)
		}
		if !v.Equal(s.v) {
			return nil, fmt.Errorf("refusing to use the signing key in %s: %s (%s) does not belong to %s (%s)", dir, pubPath, v.Fingerprint(), p, s.Fingerprint())
		}
	}
	return s, nil
}

// LoadOrGenerate loads the key in dir, or generates one if dir holds no signing.key.
// created reports whether a new key was generated, so the caller can warn that evidence is
// now signed by a key nobody has recorded yet.
func LoadOrGenerate(dir string) (s *Signer, created bool, err error) {
	if _, err := os.Lstat(filepath.Join(dir, KeyFile)); errors.Is(err, fs.ErrNotExist) {
		s, err := Generate(dir)
		if err != nil {
			return nil, false, err
		}
		return s, true, nil
	}
	s, err = Load(dir)
	return s, false, err
}

func parsePrivateKey(data []byte) (*ecdsa.PrivateKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM file")
	}
	if len(trimSpace(rest)) != 0 {
		return nil, errors.New("unexpected data after the PEM block")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("PEM block is %q, want \"PRIVATE KEY\" (PKCS#8)", block.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("invalid PKCS#8 key: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("the key is a %T, want an ECDSA P-256 key", k)
	}
	return key, nil
}

// writeNew writes data to dir/name, which must not exist, without ever exposing a partial file.
func writeNew(dir, name string, data []byte, perm os.FileMode) error {
	final := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("could not write %s: %w", final, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after the link, this removes only the temporary name
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("could not write %s: %w", final, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("could not write %s: %w", final, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("could not write %s: %w", final, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("could not write %s: %w", final, err)
	}
	// Link fails if final exists, unlike Rename: a concurrent writer's key is never replaced.
	if err := os.Link(tmpName, final); err != nil {
		return fmt.Errorf("could not write %s: %w", final, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new name durable; not all systems support syncing a directory
		d.Close()
	}
	return nil
}

func readAllLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("file is larger than %d bytes", limit)
	}
	return data, nil
}
