package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
	fsstore "github.com/exhibit-dev/exhibit/evidence/store/fs"
)

// custodyStore fills <data>/store with two sealed runs signed by the key in <data>/keys and
// returns the digest of one stored document.
func custodyStore(t *testing.T, data string) evidence.Digest {
	t.Helper()
	ctx := context.Background()
	s, err := sign.Generate(filepath.Join(data, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := fsstore.OpenRepo(filepath.Join(data, "store"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	var doc evidence.ObjectRef
	for i, id := range []string{"r1", "r2"} {
		doc, err = store.PutBytes(ctx, repo.Objects, []byte(`{"MinimumPasswordLength":`+id[1:]+`}`), "application/json")
		if err != nil {
			t.Fatal(err)
		}
		b, err := manifest.NewBuilder(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Add(evidence.Envelope{Kind: "aws.iam.password_policy", Subject: "aws:123456789012", Status: evidence.StatusOK,
			Connector: evidence.ConnectorRef{Instance: "aws-prod", Type: "aws", Version: "1"}, CollectedAt: start, Document: &doc}); err != nil {
			t.Fatal(err)
		}
		at := start.Add(time.Duration(i) * 24 * time.Hour)
		if _, err := manifest.Seal(ctx, repo, s, manifest.Header{ID: id, Type: manifest.TypeCollection, StartedAt: at, EndedAt: at, Outcome: manifest.OutcomeComplete}, b); err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	// The index records the runs, as collect leaves it.
	ix, err := index.Open(ctx, filepath.Join(data, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if _, err := index.Reindex(ctx, ix, repo); err != nil {
		t.Fatal(err)
	}
	return doc.Digest
}

func TestCheckCommand(t *testing.T) {
	otherDir := t.TempDir()
	other, err := sign.Generate(otherDir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		noStore  bool
		damage   func(t *testing.T, data string, doc evidence.Digest)
		args     func(data string) []string
		wantCode int
		wantOut  []string
		wantErr  string
	}{
		{name: "clean", wantCode: 0, wantOut: []string{"checked 4 objects", "re-hashed", "2 runs, 2 envelopes, 2 references: no problems found"}},
		{
			name: "bit flipped in a document",
			damage: func(t *testing.T, data string, doc evidence.Digest) {
				p := filepath.Join(data, "store", "objects", "sha256", doc.String()[:2], doc.String())
				os.Chmod(p, 0o644)
				if err := os.WriteFile(p, []byte(`{"MinimumPasswordLength":3}`), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantCode: 1,
			wantOut:  []string{"object-corrupt: objects ", "does not match its digest", "1 problem found"},
		},
		{
			name: "document deleted, without reading data",
			damage: func(t *testing.T, data string, doc evidence.Digest) {
				if err := os.Remove(filepath.Join(data, "store", "objects", "sha256", doc.String()[:2], doc.String())); err != nil {
					t.Fatal(err)
				}
			},
			args:     func(string) []string { return []string{"--read-data=false"} },
			wantCode: 1,
			wantOut:  []string{"object-missing: objects ", "(run r2, aws.iam.password_policy aws:123456789012): the document is missing", "not re-hashed"},
		},
		{
			name:     "pinned to another key",
			args:     func(string) []string { return []string{"--key", filepath.Join(otherDir, "signing.pub")} },
			wantCode: 1,
			wantOut:  []string{"signature: runs ", "(run r1): the run is not signed by the pinned key", "(run r2)", "2 problems found"},
		},
		{
			name:     "fingerprint of another key",
			args:     func(string) []string { return []string{"--fingerprint", other.Fingerprint()} },
			wantCode: 2,
			wantErr:  "not " + other.Fingerprint(),
		},
		{
			name: "key file and its fingerprint",
			args: func(data string) []string {
				s, err := sign.Load(filepath.Join(data, "keys"))
				if err != nil {
					t.Fatal(err)
				}
				return []string{"--key", filepath.Join(data, "keys", "allowed_signers"), "--fingerprint", s.Fingerprint()}
			},
			wantCode: 0,
			wantOut:  []string{"no problems found"},
		},
		{
			name: "a sealed run the index lacks",
			damage: func(t *testing.T, data string, _ evidence.Digest) {
				ctx := context.Background()
				ix, err := index.Open(ctx, filepath.Join(data, "index.db"))
				if err != nil {
					t.Fatal(err)
				}
				defer ix.Close()
				repo, _ := fsstore.OpenRepo(filepath.Join(data, "store"))
				if _, err := index.Reindex(ctx, ix, repo); err != nil {
					t.Fatal(err)
				}
				if err := ix.DeleteRun(ctx, "r2"); err != nil { // as a seal the index never heard of
					t.Fatal(err)
				}
			},
			wantCode: 1,
			wantOut:  []string{"run-not-indexed: runs ", "(run r2): the store holds this sealed run but the index (", "does not record it: run exhibit reindex", "1 problem found"},
		},
		{name: "no store", noStore: true, wantCode: 2, wantErr: "no evidence store at"},
		{
			name:     "index missing",
			damage:   func(t *testing.T, data string, _ evidence.Digest) { os.Remove(filepath.Join(data, "index.db")) },
			wantCode: 1,
			wantOut:  []string{"index-unavailable: no index at ", "exhibit reindex", "--no-index", "1 problem found"},
		},
		{
			name: "index unreadable",
			damage: func(t *testing.T, data string, _ evidence.Digest) {
				if err := os.WriteFile(filepath.Join(data, "index.db"), []byte("not a database, just text that is long enough to be a header"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantCode: 1,
			wantOut:  []string{"index-unavailable: could not open the index ", "1 problem found"},
		},
		{
			name:     "index missing, cross-check skipped on purpose",
			damage:   func(t *testing.T, data string, _ evidence.Digest) { os.Remove(filepath.Join(data, "index.db")) },
			args:     func(string) []string { return []string{"--no-index"} },
			wantCode: 0,
			wantOut:  []string{"not cross-checking the index (--no-index)", "no problems found"},
		},
		{
			name: "no public key",
			damage: func(t *testing.T, data string, _ evidence.Digest) {
				os.Remove(filepath.Join(data, "keys", "signing.pub"))
			},
			wantCode: 2, wantErr: "pass --key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, data := custodyConfig(t)
			var doc evidence.Digest
			if !tt.noStore {
				doc = custodyStore(t, data)
			} else if _, err := sign.Generate(filepath.Join(data, "keys")); err != nil {
				t.Fatal(err)
			}
			if tt.damage != nil {
				tt.damage(t, data, doc)
			}
			args := []string{"--config", cfg, "check"}
			if tt.args != nil {
				args = append(args, tt.args(data)...)
			}
			out, errOut, code := execExhibit(t, args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, errOut)
			}
			if tt.noStore {
				if _, err := os.Stat(filepath.Join(data, "store")); err == nil {
					t.Error("check created a store where there was none")
				}
			}
		})
	}
}

func TestCheckHelpDocumentsExitCodes(t *testing.T) {
	out, _, code := execExhibit(t, "check", "--help")
	for _, want := range []string{"0  the store is intact", "1  problems were found", "2  the check could not run"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("check --help lacks %q (exit %d)", want, code)
		}
	}
}
