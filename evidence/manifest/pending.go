package manifest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// ErrPendingStale is returned (wrapped) by CompletePending when a pending seal cannot be
// completed any more, because another run has been sealed onto the same previous manifest
// since: storing its ref would fork the chain. Its manifest, if it was stored, stays an
// unreferenced object that `exhibit check` reports.
var ErrPendingStale = errors.New("the pending seal cannot be completed")

// writePending writes the signed ref durably to path: a temporary file, fsync, rename,
// and an fsync of the directory, so that after a crash the file is either whole or absent.
func writePending(path string, ref []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing the pending seal: %w", err)
	}
	_, werr := f.Write(ref)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr == nil {
		var d *os.File
		if d, werr = os.Open(filepath.Dir(path)); werr == nil {
			werr = d.Sync()
			d.Close()
		}
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing the pending seal %s: %w", path, werr)
	}
	return nil
}

// CompletePending finishes a seal that SealWith (with SealOptions.Pending = path) began
// but did not finish, because the process died after it stored the manifest and before it
// stored the ref. It must run under the same lock as sealing, before the next seal:
//
//   - no file at path: nothing to do (nil, nil);
//   - the ref is already stored, or the manifest never was (the process died before that):
//     the file is removed (nil, nil);
//   - the manifest is stored and still extends the head of the chain: the ref, verified
//     against v, is stored, the file removed, and its RefInfo returned, for indexing;
//   - the chain has moved on: the file is removed and an error wrapping ErrPendingStale
//     says which run was left without a ref.
//
// An unreadable or invalid file, or a ref that v does not verify, is an error and the file
// is left in place for an operator to look at.
func CompletePending(ctx context.Context, repo *store.Repo, v *sign.Verifier, path string) (*RefInfo, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("could not read the pending seal: %w", err)
	}
	ref, err := ParseRef(data)
	if err != nil {
		return nil, fmt.Errorf("pending seal %s: %w", path, err)
	}
	if err := ref.Verify(v); err != nil {
		return nil, fmt.Errorf("pending seal %s: %w", path, err)
	}
	refDigest := evidence.Sum(data)
	done := func() error {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("could not remove the pending seal: %w", err)
		}
		return nil
	}
	if _, err := repo.Runs.Stat(ctx, refDigest); err == nil {
		return nil, done()
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("pending seal of run %s: %w", ref.ID, err)
	}
	info, err := repo.Objects.Stat(ctx, ref.Manifest.Digest)
	if errors.Is(err, store.ErrNotFound) {
		return nil, done()
	}
	if err != nil {
		return nil, fmt.Errorf("pending seal of run %s: %w", ref.ID, err)
	}
	if info.Size != ref.Manifest.Size {
		return nil, fmt.Errorf("pending seal of run %s: manifest %s is %d bytes, the ref says %d", ref.ID, ref.Manifest.Digest, info.Size, ref.Manifest.Size)
	}
	head, err := Head(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("pending seal of run %s: %w", ref.ID, err)
	}
	if !evidence.SameDigest(head, ref.Previous) {
		if err := done(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: run %s (manifest %s) followed a manifest that is no longer the head of the chain; it stays without a ref", ErrPendingStale, ref.ID, ref.Manifest.Digest)
	}
	obj, err := store.PutBytes(ctx, repo.Runs, data, RefMediaType)
	if err != nil {
		return nil, fmt.Errorf("pending seal of run %s: storing its ref in %s: %w", ref.ID, repo.Describe, err)
	}
	return &RefInfo{Ref: ref, Digest: obj.Digest}, done()
}
