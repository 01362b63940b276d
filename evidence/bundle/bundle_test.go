package bundle

import (
	"archive/zip"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestBuildAndVerify(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	for _, c := range []struct {
		name string
		comp Compression
	}{{"deflate", Deflate}, {"store", Store}} {
		t.Run(c.name, func(t *testing.T) {
			path, sum := f.build(t, buildOptions{compression: c.comp})
			if sum.Verification == nil || !sum.Verification.OK() {
				t.Fatal("Commit did not report a clean verification")
			}
			rep := f.verify(t, path)
			mustOK(t, rep)
			if rep.Manifest == nil || rep.Manifest.LastRun.Manifest != f.runs[len(f.runs)-1].Digest {
				t.Errorf("last run = %+v, want %s", rep.Manifest.LastRun, f.runs[len(f.runs)-1].Digest)
			}
			// 3 period runs × (4 artefacts + 1 gap)
			if rep.Artefacts != 15 || rep.Runs != 4 {
				t.Errorf("verified %d artefacts in %d runs, want 15 in 4", rep.Artefacts, rep.Runs)
			}
			// The archive is an ordinary zip for other readers too.
			zr, err := zip.OpenReader(path)
			if err != nil {
				t.Fatalf("archive/zip cannot read the bundle: %v", err)
			}
			defer zr.Close()
			for _, zf := range zr.File {
				if !strings.HasPrefix(zf.Name, sum.Top+"/") {
					t.Errorf("entry %s outside the top folder %s", zf.Name, sum.Top)
				}
				rc, err := zf.Open()
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 1<<16)
				for {
					_, err := rc.Read(buf)
					if err != nil {
						if err.Error() != "EOF" {
							t.Errorf("archive/zip: %s: %v", zf.Name, err)
						}
						break
					}
				}
				rc.Close()
			}
		})
	}
}

func TestVerifyTrust(t *testing.T) {
	f := newFixture(t, fixtureOptions{runs: 1, perRun: 2})
	other := newFixture(t, fixtureOptions{runs: 1, perRun: 2})
	path, _ := f.build(t, buildOptions{})
	ctx := context.Background()

	if _, err := VerifyFile(ctx, path, VerifyOptions{}); !errors.Is(err, ErrNoTrustAnchor) {
		t.Errorf("no pinned key: err = %v, want ErrNoTrustAnchor", err)
	}
	if _, err := VerifyFile(ctx, path, VerifyOptions{Key: f.signer.Verifier(), Fingerprint: other.signer.Fingerprint()}); err == nil {
		t.Error("a key and a fingerprint that disagree were accepted")
	}
	cases := []struct {
		name    string
		opts    VerifyOptions
		ok      bool
		problem string
		warning bool
	}{
		{"pinned key", VerifyOptions{Key: f.signer.Verifier()}, true, "", false},
		{"pinned fingerprint", VerifyOptions{Fingerprint: f.signer.Fingerprint()}, true, "", false},
		{"key and fingerprint", VerifyOptions{Key: f.signer.Verifier(), Fingerprint: f.signer.Fingerprint()}, true, "", false},
		{"another pinned key", VerifyOptions{Key: other.signer.Verifier()}, false, "not the pinned key", false},
		{"another fingerprint", VerifyOptions{Fingerprint: other.signer.Fingerprint()}, false, "not the pinned", false},
		{"unpinned", VerifyOptions{TrustBundleKeyUnsafe: true}, true, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := VerifyFile(ctx, path, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if c.ok {
				mustOK(t, rep)
			} else {
				wantProblem(t, rep, c.problem)
			}
			if got := len(rep.Warnings) > 0; got != c.warning {
				t.Errorf("warnings = %q, want warning: %v", rep.Warnings, c.warning)
			}
			if c.warning && !strings.Contains(rep.Warnings[0], "NOT PINNED") {
				t.Errorf("the warning does not say trust was not pinned: %s", rep.Warnings[0])
			}
		})
	}
}
