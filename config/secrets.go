package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
)

// Secrets resolves `*_env` and `*_file` references. It implements connector.Secrets.
type Secrets struct {
	// LookupEnv defaults to os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// ReadFile defaults to reading a regular file of at most MaxSecretSize bytes.
	ReadFile func(string) ([]byte, error)
	// Resolve makes relative file paths absolute (Config.Resolve); nil leaves them as given.
	Resolve func(string) string
}

// Secrets returns a resolver whose relative files are relative to the config file.
func (c *Config) Secrets() *Secrets { return &Secrets{Resolve: c.Resolve} }

// Secret returns the secret named by exactly one of env or file. The error never contains
// the secret itself. Surrounding white space (a trailing newline in a file) is removed.
func (s *Secrets) Secret(what, env, file string) ([]byte, error) {
	switch {
	case env != "" && file != "":
		return nil, fmt.Errorf("%s: set %s_env or %s_file, not both", what, what, what)
	case env != "":
		lookup := s.LookupEnv
		if lookup == nil {
			lookup = os.LookupEnv
		}
		v, ok := lookup(env)
		if !ok || v == "" {
			return nil, fmt.Errorf("%s: environment variable %s is not set", what, env)
		}
		return bytes.TrimSpace([]byte(v)), nil
	case file != "":
		if s.Resolve != nil {
			file = s.Resolve(file)
		}
		read := s.ReadFile
		if read == nil {
			read = func(p string) ([]byte, error) { return ReadFile(p, MaxSecretSize) }
		}
		b, err := read(file)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("%s: could not read %s: %v", what, file, err)
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			return nil, fmt.Errorf("%s: %s is empty", what, file)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("%s: not configured (set %s_env or %s_file)", what, what, what)
	}
}
