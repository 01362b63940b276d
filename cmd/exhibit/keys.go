package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/exhibit-dev/exhibit/evidence/sign"
)

func newKeysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the signing key",
		Long: `Manage the ECDSA P-256 key that signs run manifests and evidence bundles.

The key directory (default <data_dir>/keys, or signing.key_dir in the config) holds:
  signing.key      the private key, PKCS#8 PEM, mode 0600 (refused if group/world readable)
  signing.pub      the public key, SPKI PEM (openssl dgst -sha256 -verify)
  allowed_signers  the public key for ssh-keygen -Y verify -I exhibit

Give auditors the fingerprint out of band, so they can pin the key instead of trusting
the copy inside a bundle.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newKeysGenerateCmd(g), newKeysFingerprintCmd(g))
	return cmd
}

func newKeysGenerateCmd(g *globals) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate a new signing key and print its fingerprint",
		Long: `Generate a new ECDSA P-256 signing key and print its fingerprint.

An existing key is never overwritten: every signature made with it would stop verifying.
To rotate, generate into a new directory (--dir) and point signing.key_dir at it; keep the
old public key to verify what it signed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kd, err := g.keyDir(dir)
			if err != nil {
				return err
			}
			return runKeysGenerate(kd, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "key directory (default: signing.key_dir, or <data_dir>/keys)")
	return cmd
}

// keyDir is the key directory given by --dir, or else the one of the config.
func (g *globals) keyDir(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return "", err
	}
	return cfg.KeyDir(), nil
}

// runKeysGenerate generates a key in dir and says where it is.
func runKeysGenerate(dir string, out io.Writer) error {
	s, err := sign.Generate(dir)
	if errors.Is(err, sign.ErrKeyExists) {
		return fmt.Errorf("%w\nTo rotate: exhibit keys generate --dir NEW_DIR, then set signing.key_dir: NEW_DIR in the config, and keep the old signing.pub to verify what it signed", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Generated a signing key. Fingerprint:\n\n  %s\n\n", s.Fingerprint())
	fmt.Fprintf(out, "  private key      %s (keep it secret and backed up)\n", filepath.Join(dir, sign.KeyFile))
	fmt.Fprintf(out, "  public key       %s\n", filepath.Join(dir, sign.PublicKeyFile))
	fmt.Fprintf(out, "  allowed_signers  %s\n\n", filepath.Join(dir, sign.AllowedSignersFile))
	fmt.Fprintln(out, "Record the fingerprint where auditors can find it independently of Exhibit.")
	return nil
}

func newKeysFingerprintCmd(g *globals) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "fingerprint",
		Short: "Print the signing key's fingerprint (SHA256:…, as ssh-keygen -l prints it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kd, err := g.keyDir(dir)
			if err != nil {
				return err
			}
			fp, err := keysFingerprint(kd)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), fp)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "key directory (default: signing.key_dir, or <data_dir>/keys)")
	return cmd
}

// keysFingerprint reads the fingerprint from signing.pub, or from the private key if the
// public file is gone (Load rewrites it).
func keysFingerprint(dir string) (string, error) {
	pub, err := os.ReadFile(filepath.Join(dir, sign.PublicKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		s, lerr := sign.Load(dir)
		if lerr != nil {
			if errors.Is(lerr, fs.ErrNotExist) {
				return "", fmt.Errorf("no signing key in %s: run \"exhibit keys generate\"", dir)
			}
			return "", lerr
		}
		return s.Fingerprint(), nil
	}
	if err != nil {
		return "", fmt.Errorf("could not read the public key: %w", err)
	}
	v, err := sign.ParsePublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Join(dir, sign.PublicKeyFile), err)
	}
	return v.Fingerprint(), nil
}
