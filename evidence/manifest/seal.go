package manifest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// Sealed describes a manifest written by Seal.
type Sealed struct {
	Header    Header
	Digest    evidence.Digest
	Size      int64
	Ref       Ref
	RefDigest evidence.Digest
}

// Seal writes the run: it fills h.Schema, h.Signer and h.Previous (the current Head),
// streams the manifest through a temporary file (hashing as it writes) into repo.Objects,
// signs its digest in namespace sign.NamespaceRun, and writes the Ref to repo.Runs. Start
// and end times are stored in UTC. b may be nil for a run without envelopes; Seal does not
// close it.
//
// The caller must hold the repository's lock from before Seal until it returns: two Seals at
// once would both name the same previous manifest and fork the chain.
//
// If Seal fails after the manifest object is stored but before the Ref is, the manifest is
// an unreferenced object that `exhibit check` reports; SealOptions.Pending lets a later
// CompletePending store the Ref after all.
func Seal(ctx context.Context, repo *store.Repo, signer *sign.Signer, h Header, b *Builder) (*Sealed, error) {
	return SealWith(ctx, repo, signer, h, b, SealOptions{})
}

// SealOptions are Seal's optional settings.
type SealOptions struct {
	// Pending, if set, is a local file where SealWith durably writes the signed Ref before
	// it stores the manifest, and which it removes once the Ref is stored. If the process
	// dies in between, CompletePending finishes the seal from it.
	Pending string
}

// SealWith is Seal with options.
func SealWith(ctx context.Context, repo *store.Repo, signer *sign.Signer, h Header, b *Builder, opts SealOptions) (*Sealed, error) {
	prev, err := Head(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("could not seal run %s: %w", h.ID, err)
	}
	h.Schema = Schema
	h.Signer = signer.Fingerprint()
	h.Previous = prev
	h.StartedAt = h.StartedAt.UTC()
	h.EndedAt = h.EndedAt.UTC()
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("could not seal run %s: %w", h.ID, err)
	}
	tmpDir := ""
	if b != nil {
		tmpDir = b.dir
	}
	tmp, err := os.CreateTemp(tmpDir, "exhibit-manifest-*.json")
	if err != nil {
		return nil, fmt.Errorf("could not seal run %s: %w", h.ID, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	var lines func(fn func(line []byte) error) error
	if b != nil {
		lines = b.lines
	}
	d, size, err := writeManifest(tmp, h, lines)
	if err != nil {
		return nil, fmt.Errorf("could not seal run %s: writing %s: %w", h.ID, tmp.Name(), err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("could not seal run %s: %w", h.ID, err)
	}
	sig, err := signer.Sign(sign.NamespaceRun, d)
	if err != nil {
		return nil, fmt.Errorf("could not seal run %s: %w", h.ID, err)
	}
	ref := Ref{
		Schema:    RefSchema,
		Manifest:  evidence.ObjectRef{Digest: d, Size: size, MediaType: MediaType},
		ID:        h.ID,
		Type:      h.Type,
		StartedAt: h.StartedAt,
		Previous:  h.Previous,
		Signer:    h.Signer,
		Signature: sig.DER,
		SSHSig:    string(sig.SSH),
	}
	data, err := json.Marshal(ref)
	if err != nil {
		return nil, fmt.Errorf("could not seal run %s: %w", h.ID, err)
	}
	if opts.Pending != "" {
		if err := writePending(opts.Pending, data); err != nil {
			return nil, fmt.Errorf("could not seal run %s: %w", h.ID, err)
		}
	}
	if err := repo.Objects.Put(ctx, d, tmp, size); err != nil {
		return nil, fmt.Errorf("could not seal run %s: storing manifest %s in %s: %w", h.ID, d, repo.Describe, err)
	}
	refObj, err := store.PutBytes(ctx, repo.Runs, data, RefMediaType)
	if err != nil {
		return nil, fmt.Errorf("could not seal run %s: storing its ref in %s: %w", h.ID, repo.Describe, err)
	}
	if opts.Pending != "" {
		// Left behind, it is harmless: CompletePending finds the ref stored and removes it.
		os.Remove(opts.Pending)
	}
	return &Sealed{Header: h, Digest: d, Size: size, Ref: ref, RefDigest: refObj.Digest}, nil
}

// writeManifest writes the manifest of h and the envelope lines (JSON, newline-terminated)
// that lines yields to w, and returns its digest and size. lines may be nil.
func writeManifest(w io.Writer, h Header, lines func(fn func(line []byte) error) error) (evidence.Digest, int64, error) {
	hash := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(w, hash)}
	bw := bufio.NewWriterSize(cw, 256<<10)
	head, err := json.Marshal(h)
	if err != nil {
		return evidence.Digest{}, 0, err
	}
	// The header marshals as {…}; the envelopes go inside the same object, last.
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"envelopes":[`)
	if lines != nil {
		first := true
		err := lines(func(line []byte) error {
			if first {
				first = false
				bw.WriteByte('\n')
			} else {
				bw.WriteString(",\n")
			}
			_, err := bw.Write(line[:len(line)-1])
			return err
		})
		if err != nil {
			return evidence.Digest{}, 0, err
		}
		if !first {
			bw.WriteByte('\n')
		}
	}
	bw.WriteString("]}\n")
	if err := bw.Flush(); err != nil {
		return evidence.Digest{}, 0, err
	}
	return evidence.DigestOf(hash), cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
