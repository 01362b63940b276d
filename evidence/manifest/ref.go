package manifest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// Ref is the signed reference to one run manifest, stored in repo.Runs. The signatures are
// over the manifest's digest; ID, Type, StartedAt and Previous are copies of the manifest
// header for listing runs without reading manifests, and are NOT covered by the signature:
// `exhibit check` compares them with the manifest.
type Ref struct {
	Schema    string             `json:"schema"`
	Manifest  evidence.ObjectRef `json:"manifest"`
	ID        string             `json:"id"`
	Type      Type               `json:"type"`
	StartedAt time.Time          `json:"started_at"`
	Previous  *evidence.Digest   `json:"previous"`
	Signer    string             `json:"signer"`
	// Signature is the DER ECDSA signature over Manifest.Digest (base64 in JSON).
	Signature []byte `json:"signature"`
	// SSHSig is the armored SSHSIG over the manifest bytes, namespace exhibit-run.
	SSHSig string `json:"sshsig"`
}

// RefInfo is a Ref and the digest it is stored under in repo.Runs.
type RefInfo struct {
	Ref    Ref
	Digest evidence.Digest
}

var refKeys = []string{"schema", "manifest", "id", "type", "started_at", "previous", "signer", "signature", "sshsig"}

// maxRefSize bounds what ParseRef accepts: a Ref is well under 2 KiB.
const maxRefSize = 64 << 10

// ParseRef parses a Ref strictly: unknown, duplicate and missing keys are errors.
func ParseRef(data []byte) (Ref, error) {
	if len(data) > maxRefSize {
		return Ref{}, fmt.Errorf("invalid run ref: %d bytes, more than %d", len(data), maxRefSize)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return Ref{}, fmt.Errorf("invalid run ref: %w", err)
	}
	for _, k := range refKeys {
		if _, ok := keys[k]; !ok {
			return Ref{}, fmt.Errorf("invalid run ref: %q is missing", k)
		}
	}
	var r Ref
	if err := evidence.DecodeStrict(data, &r); err != nil {
		return Ref{}, fmt.Errorf("invalid run ref: %w", err)
	}
	if err := r.validate(); err != nil {
		return Ref{}, fmt.Errorf("invalid run ref: %w", err)
	}
	return r, nil
}

func (r *Ref) validate() error {
	switch {
	case r.Schema != RefSchema:
		return fmt.Errorf("schema is %q, want %q", r.Schema, RefSchema)
	case r.Manifest.Digest.IsZero():
		return errors.New("manifest digest is missing")
	case r.Manifest.Size < 0:
		return errors.New("manifest size is negative")
	case r.Previous != nil && r.Previous.IsZero():
		return errors.New("previous is the zero digest")
	case !r.Type.Valid():
		return fmt.Errorf("unknown run type %q", r.Type)
	case r.StartedAt.IsZero():
		return errors.New("started_at is missing")
	case r.Signer == "" || len(r.Signature) == 0 || r.SSHSig == "":
		return errors.New("signer, signature and sshsig are required")
	}
	return validateID(r.ID)
}

// Verify checks both signatures over r.Manifest.Digest against the pinned key v, and that
// r names v's fingerprint as its signer.
func (r Ref) Verify(v *sign.Verifier) error {
	// SSHSIG first: it carries the signer's public key, so its error can name the key that
	// did sign, which is what an operator needs to know.
	if err := v.VerifySSH(sign.NamespaceRun, r.Manifest.Digest, []byte(r.SSHSig)); err != nil {
		return fmt.Errorf("run %s (manifest %s): %w", r.ID, r.Manifest.Digest, err)
	}
	if err := v.VerifyDER(r.Manifest.Digest, r.Signature); err != nil {
		return fmt.Errorf("run %s (manifest %s): %w", r.ID, r.Manifest.Digest, err)
	}
	if r.Signer != v.Fingerprint() {
		return fmt.Errorf("run %s (manifest %s): ref names signer %s, but it was signed by %s", r.ID, r.Manifest.Digest, r.Signer, v.Fingerprint())
	}
	return nil
}

// ReadRef reads and parses the Ref stored under d in runs, verifying its digest.
func ReadRef(ctx context.Context, runs store.Store, d evidence.Digest) (Ref, error) {
	rc, err := runs.Get(ctx, d)
	if err != nil {
		return Ref{}, fmt.Errorf("could not read run ref %s: %w", d, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxRefSize+1))
	if err != nil {
		return Ref{}, fmt.Errorf("could not read run ref %s: %w", d, err)
	}
	r, err := ParseRef(data)
	if err != nil {
		return Ref{}, fmt.Errorf("run ref %s: %w", d, err)
	}
	return r, nil
}

// ListRefs reads every Ref in runs, sorted by StartedAt then ID. It fails on the first Ref
// that cannot be read or parsed; `exhibit check` reports all of them instead.
func ListRefs(ctx context.Context, runs store.Store) ([]RefInfo, error) {
	var digests []evidence.Digest
	if err := runs.List(ctx, func(i store.Info) error {
		digests = append(digests, i.Digest)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("could not list run refs: %w", err)
	}
	out := make([]RefInfo, 0, len(digests))
	for _, d := range digests {
		r, err := ReadRef(ctx, runs, d)
		if err != nil {
			return nil, err
		}
		out = append(out, RefInfo{Ref: r, Digest: d})
	}
	SortRefs(out)
	return out, nil
}

// SortRefs sorts refs by StartedAt, then ID, then digest, the order runs are listed in.
func SortRefs(refs []RefInfo) {
	sort.SliceStable(refs, func(i, j int) bool {
		a, b := refs[i].Ref, refs[j].Ref
		if !a.StartedAt.Equal(b.StartedAt) {
			return a.StartedAt.Before(b.StartedAt)
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return bytes.Compare(refs[i].Digest[:], refs[j].Digest[:]) < 0
	})
}

// ForkError reports two runs that claim the same place in the chain: both name the same
// previous manifest, or both claim to be the first.
type ForkError struct {
	Previous *evidence.Digest // nil: both claim to be the first run
	A, B     Ref
}

func (e *ForkError) Error() string {
	where := "both claim to be the first run"
	if e.Previous != nil {
		where = "both follow manifest " + e.Previous.String()
	}
	return fmt.Sprintf("the run chain is forked: run %s (manifest %s) and run %s (manifest %s) %s",
		e.A.ID, e.A.Manifest.Digest, e.B.ID, e.B.Manifest.Digest, where)
}

// Forks returns every pair of refs that claim the same place in the chain. Refs to the same
// manifest count once. refs must be sorted (SortRefs).
func Forks(refs []RefInfo) []*ForkError {
	byPrev := map[evidence.Digest]Ref{}
	seenManifest := map[evidence.Digest]bool{}
	var first *Ref
	var forks []*ForkError
	for i := range refs {
		r := refs[i].Ref
		if seenManifest[r.Manifest.Digest] {
			continue
		}
		seenManifest[r.Manifest.Digest] = true
		if r.Previous == nil {
			if first != nil {
				forks = append(forks, &ForkError{A: *first, B: r})
				continue
			}
			first = &refs[i].Ref
			continue
		}
		if a, ok := byPrev[*r.Previous]; ok {
			forks = append(forks, &ForkError{Previous: r.Previous, A: a, B: r})
			continue
		}
		byPrev[*r.Previous] = r
	}
	return forks
}

// Head returns the digest of the newest manifest that no other run names as its previous:
// the manifest the next run must name. It returns nil for an empty repository and a
// *ForkError when two runs claim the same place in the chain, because sealing onto either
// branch would hide the other.
//
// A chain with a gap (a deleted run in the middle) has more than one such manifest; Head then
// returns the newest, so collection goes on, and `exhibit check` reports the gap.
func Head(ctx context.Context, repo *store.Repo) (*evidence.Digest, error) {
	refs, err := ListRefs(ctx, repo.Runs)
	if err != nil {
		return nil, fmt.Errorf("could not find the head of the run chain in %s: %w", repo.Describe, err)
	}
	if forks := Forks(refs); len(forks) > 0 {
		return nil, fmt.Errorf("could not find the head of the run chain in %s: %w%s", repo.Describe, forks[0], moreForks(len(forks)))
	}
	head, err := HeadOf(refs)
	if err != nil {
		return nil, fmt.Errorf("could not find the head of the run chain in %s: %w", repo.Describe, err)
	}
	return head, nil
}

// HeadOf is Head over refs already listed (sorted as ListRefs sorts them) and checked for
// forks by the caller.
func HeadOf(refs []RefInfo) (*evidence.Digest, error) {
	named := map[evidence.Digest]bool{}
	for _, r := range refs {
		if r.Ref.Previous != nil {
			named[*r.Ref.Previous] = true
		}
	}
	for i := len(refs) - 1; i >= 0; i-- {
		if d := refs[i].Ref.Manifest.Digest; !named[d] {
			return &d, nil
		}
	}
	if len(refs) > 0 {
		// Every manifest is named by another: a cycle, which only tampering can make.
		return nil, errors.New("the chain is a cycle")
	}
	return nil, nil
}

func moreForks(n int) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf(" (and %d more; run exhibit check to list them)", n-1)
}
