package timestamp_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/evidence/timestamp"
	"github.com/exhibit-dev/exhibit/evidence/timestamp/tsasim"
)

func startTSA(t *testing.T, o tsasim.Options) (*tsasim.TSA, *timestamp.Authority) {
	t.Helper()
	sim, err := tsasim.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, &timestamp.Authority{URL: srv.URL, Roots: sim.Roots(), Timeout: 5 * time.Second}
}

func TestStampAndVerify(t *testing.T) {
	sim, tsa := startTSA(t, tsasim.Options{})
	data := []byte("a run manifest\n")
	digest := sha256.Sum256(data)
	before := time.Now()
	tok, err := tsa.Stamp(context.Background(), digest)
	if err != nil {
		t.Fatal(err)
	}
	if tok.GenTime.Before(before.Add(-time.Second)) || tok.GenTime.After(time.Now().Add(time.Second)) {
		t.Errorf("genTime %s outside the request", tok.GenTime)
	}
	if len(tok.Chain) != 3 || tok.Signer.Subject.CommonName != "Exhibit simulated TSA" {
		t.Errorf("chain = %d certificates, signer %s", len(tok.Chain), tok.Signer.Subject)
	}
	// Verified again later, offline, from the stored bytes.
	again, err := timestamp.Verify(tok.Response, digest, timestamp.VerifyOptions{Roots: sim.Roots(),
		NotBefore: before, NotAfter: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if !again.GenTime.Equal(tok.GenTime) {
		t.Errorf("genTime %s, then %s", tok.GenTime, again.GenTime)
	}
	verifyWithOpenSSL(t, sim, data, tok.Response, true)
	verifyWithOpenSSL(t, sim, []byte("other data\n"), tok.Response, false)
}

// TestVerifyRefuses covers what an auditor must never accept: a token over other data, a
// token from another CA, a tampered token, a replayed nonce, a time outside the run.
func TestVerifyRefuses(t *testing.T) {
	sim, tsa := startTSA(t, tsasim.Options{})
	digest := sha256.Sum256([]byte("sealed"))
	tok, err := tsa.Stamp(context.Background(), digest)
	if err != nil {
		t.Fatal(err)
	}
	roots := sim.Roots()
	other, _ := tsasim.New(tsasim.Options{})

	t.Run("other data", func(t *testing.T) {
		_, err := timestamp.Verify(tok.Response, sha256.Sum256([]byte("not sealed")), timestamp.VerifyOptions{Roots: roots})
		if !errors.Is(err, timestamp.ErrImprint) {
			t.Errorf("err = %v, want ErrImprint", err)
		}
	})
	t.Run("wrong CA", func(t *testing.T) {
		_, err := timestamp.Verify(tok.Response, digest, timestamp.VerifyOptions{Roots: other.Roots()})
		if !errors.Is(err, timestamp.ErrChain) {
			t.Errorf("err = %v, want ErrChain", err)
		}
	})
	t.Run("time before the window", func(t *testing.T) {
		_, err := timestamp.Verify(tok.Response, digest, timestamp.VerifyOptions{Roots: roots, NotBefore: tok.GenTime.Add(time.Hour)})
		if !errors.Is(err, timestamp.ErrTime) {
			t.Errorf("err = %v, want ErrTime", err)
		}
	})
	t.Run("time after the window", func(t *testing.T) {
		_, err := timestamp.Verify(tok.Response, digest, timestamp.VerifyOptions{Roots: roots, NotAfter: tok.GenTime.Add(-time.Hour)})
		if !errors.Is(err, timestamp.ErrTime) {
			t.Errorf("err = %v, want ErrTime", err)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		// Flip the low and the high bit of every byte in turn: every change must be refused.
		refused := 0
		for i := range tok.Response {
			for _, bit := range []byte{0x01, 0x80} {
				bad := append([]byte(nil), tok.Response...)
				bad[i] ^= bit
				if _, err := timestamp.Verify(bad, digest, timestamp.VerifyOptions{Roots: roots}); err != nil {
					refused++
				} else {
					t.Errorf("byte %d, bit %#x flipped: accepted", i, bit)
				}
			}
		}
		if refused == 0 {
			t.Error("no tampered token refused")
		}
	})
	t.Run("no roots", func(t *testing.T) {
		if _, err := timestamp.Verify(tok.Response, digest, timestamp.VerifyOptions{}); err == nil {
			t.Error("verified without CA certificates")
		}
	})
}

// TestStampFaults: every misbehaviour of a TSA is an error of Stamp, never a token.
func TestStampFaults(t *testing.T) {
	for _, tc := range []struct {
		fault tsasim.Fault
		want  error
		text  string
	}{
		{tsasim.ServerError, nil, "500"},
		{tsasim.Rejection, nil, "rejected"},
		{tsasim.Garbage, nil, "time-stamp response"},
		{tsasim.OtherImprint, timestamp.ErrImprint, ""},
		{tsasim.WrongNonce, timestamp.ErrNonce, ""},
		{tsasim.OtherCA, timestamp.ErrChain, ""},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			sim, tsa := startTSA(t, tsasim.Options{})
			sim.SetFault(tc.fault)
			tok, err := tsa.Stamp(context.Background(), sha256.Sum256([]byte("x")))
			if err == nil {
				t.Fatalf("token %v accepted", tok.GenTime)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if tc.text != "" && !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %v, want it to mention %q", err, tc.text)
			}
		})
	}
	t.Run("skewed clock", func(t *testing.T) {
		_, tsa := startTSA(t, tsasim.Options{Skew: -time.Hour})
		if _, err := tsa.Stamp(context.Background(), sha256.Sum256([]byte("x"))); !errors.Is(err, timestamp.ErrTime) {
			t.Errorf("err = %v, want ErrTime", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		tsa := &timestamp.Authority{URL: "http://127.0.0.1:1/", Roots: nil, Timeout: time.Second}
		if _, err := tsa.Stamp(context.Background(), sha256.Sum256([]byte("x"))); err == nil {
			t.Error("no error from an unreachable TSA")
		}
	})
	t.Run("timeout", func(t *testing.T) {
		_, tsa := startTSA(t, tsasim.Options{Latency: 2 * time.Second})
		tsa.Timeout = 100 * time.Millisecond
		if _, err := tsa.Stamp(context.Background(), sha256.Sum256([]byte("x"))); err == nil {
			t.Error("no error from a TSA slower than the timeout")
		}
	})
}

func TestParseOID(t *testing.T) {
	for in, ok := range map[string]bool{"1.2.3.4": true, "1.3.6.1.4.1.4146.2.3": true, "1": false, "1..2": false, "1.a": false, "1.-2": false, "": false, "1.02": false} {
		if _, err := timestamp.ParseOID(in); (err == nil) != ok {
			t.Errorf("ParseOID(%q) err = %v", in, err)
		}
	}
}

// verifyWithOpenSSL runs the auditor's command: openssl ts -verify -data … -in … -CAfile …
// -untrusted ….
func verifyWithOpenSSL(t *testing.T, sim *tsasim.TSA, data, resp []byte, want bool) {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("EXHIBIT_REQUIRE_TOOLS") != "" {
			t.Fatal("openssl is required (EXHIBIT_REQUIRE_TOOLS is set) but not installed")
		}
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cmd := exec.Command(openssl, "ts", "-verify", "-data", write("data", data), "-in", write("data.tsr", resp),
		"-CAfile", write("tsa-ca.pem", sim.RootPEM()), "-untrusted", write("tsa-chain.pem", sim.ChainPEM()))
	out, err := cmd.CombinedOutput()
	if got := err == nil; got != want {
		t.Errorf("openssl ts -verify: ok = %v, want %v\n%s", got, want, out)
	}
}
