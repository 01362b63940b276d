package bundle

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/sign"
)

// VerifyOptions say which key the bundle must be signed by. Exactly one way of pinning
// trust is required: a bundle carries its own signing.pub, and a check against that key
// alone proves only that SOMEBODY signed the bundle.
type VerifyOptions struct {
	// Key is the pinned public key (from signing.pub received out of band).
	Key *sign.Verifier
	// Fingerprint pins the key by its OpenSSH fingerprint ("SHA256:…"): the bundle's own
	// signing.pub must have it. With Key, Key must have it too.
	Fingerprint string
	// TrustBundleKeyUnsafe verifies against the bundle's own key, pinning nothing. The
	// report then carries a warning that trust was not pinned; use it only to inspect a
	// bundle, never to accept one.
	TrustBundleKeyUnsafe bool
	Limits               Limits
	// Workers hash files in parallel (default GOMAXPROCS).
	Workers int
}

// ErrNoTrustAnchor is returned when VerifyOptions pin no key.
var ErrNoTrustAnchor = errors.New("no trusted key: pass the signing key received out of band (--key signing.pub) or its fingerprint (--fingerprint SHA256:…)")

// Problem is one reason a bundle is invalid. Path is the file it concerns, relative to the
// top folder ("" for the archive as a whole).
type Problem struct {
	Path    string
	Message string
}

// String renders the problem as "path: message".
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Report is the result of verifying a bundle.
type Report struct {
	// Top is the bundle's top folder.
	Top string
	// Manifest is manifest.json's header, if it could be read.
	Manifest *Manifest
	// Signer is the fingerprint of the key the signatures were checked against; Pinned says
	// whether that key was pinned by the caller.
	Signer string
	Pinned bool
	// Files and Bytes count the files hashed and their uncompressed bytes.
	Files     int
	Bytes     int64
	Runs      int
	Artefacts int
	// Warnings do not make the bundle invalid (e.g. trust was not pinned).
	Warnings []string
	// Problems are the reasons the bundle is invalid, in the order found; More counts those
	// beyond Limits.MaxProblems.
	Problems []Problem
	More     int

	mu  sync.Mutex
	max int
}

// OK reports whether the bundle verified: no problems at all.
func (r *Report) OK() bool { return len(r.Problems) == 0 && r.More == 0 }

func (r *Report) add(path, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Top != "" {
		path = strings.TrimPrefix(path, r.Top+"/")
	}
	if len(r.Problems) >= r.max {
		r.More++
		return
	}
	r.Problems = append(r.Problems, Problem{Path: path, Message: msg})
}

func (r *Report) addf(path, format string, args ...any) { r.add(path, fmt.Sprintf(format, args...)) }

// merge appends o's problems after r's, keeping r's limit.
func (r *Report) merge(o *Report) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range o.Problems {
		if len(r.Problems) >= r.max {
			r.More++
			continue
		}
		r.Problems = append(r.Problems, p)
	}
	r.More += o.More
}

// VerifyFile verifies the bundle at path. Its error means the file could not be read or the
// options are unusable; an invalid bundle is a Report with problems.
func VerifyFile(ctx context.Context, path string, opts VerifyOptions) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("could not open the bundle: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("could not open the bundle: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("could not open the bundle: %s is not a regular file", path)
	}
	return Verify(ctx, f, st.Size(), opts)
}

// verifier holds the state of one verification.
type verifier struct {
	ctx context.Context
	a   *archive
	lim Limits
	rep *Report
	// cr collects the problems of the content checks, which run while the files are hashed:
	// they are kept only if every file they read turns out authentic (tainted stays false),
	// because conclusions drawn from altered content are noise next to "altered".
	cr      *Report
	tainted atomic.Bool
	top     string
	byRel   map[string]int32 // entries by path relative to top
	key     *sign.Verifier
	opts    VerifyOptions
	sumsOK  bool
}

// Verify checks the bundle in r (size bytes) straight from the archive, extracting nothing:
//
//  1. the archive is safe and reads the same in every zip reader: no unsafe names
//     (traversal, absolute, backslashes, control characters, names Windows reads as
//     another name or a device), no links or special files, no duplicate names (also
//     case-insensitively), no entries outside one top folder, sizes and ratios within
//     Limits (zip bombs); and every byte laid out exactly as the writer lays it out (local
//     headers, data, central directory and end records in order, nothing before, between
//     or after them, no data descriptors, comments or extra fields the writer does not
//     write), so unzip, Python's zipfile, Java's ZipInputStream and archive/zip extract
//     the files verified and nothing else;
//  2. SHA256SUMS is signed by the pinned key in both formats (DER and SSHSIG, namespace
//     exhibit-bundle), and the bundle's signing.pub and allowed_signers hold that key;
//  3. the files are exactly those SHA256SUMS lists (none missing, none added) and every
//     file hashes to its line;
//  4. manifest.json: signed by the pinned key, every run manifest signed (namespace
//     exhibit-run), the chain unbroken from the anchor through the last run, the last run
//     as claimed, every envelope of the period runs that the selection matches listed, and
//     every file an artefact or the report references present with the digest given.
//
// Content (4) is only examined when 2 and 3 hold for the files concerned: nothing in a
// bundle whose signature fails can be trusted, and its problems are listed regardless.
func Verify(ctx context.Context, r io.ReaderAt, size int64, opts VerifyOptions) (*Report, error) {
	lim := opts.Limits.orDefault()
	rep := &Report{max: lim.MaxProblems}
	if opts.Key == nil && opts.Fingerprint == "" && !opts.TrustBundleKeyUnsafe {
		return nil, ErrNoTrustAnchor
	}
	if opts.Key != nil && opts.Fingerprint != "" && opts.Key.Fingerprint() != opts.Fingerprint {
		return nil, fmt.Errorf("the key given has fingerprint %s, not the fingerprint given (%s)", opts.Key.Fingerprint(), opts.Fingerprint)
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	a, err := readArchive(r, size, lim, rep.add)
	var fe *formatError
	if errors.As(err, &fe) {
		rep.add("", fe.msg)
		return rep, nil
	}
	if err != nil {
		return nil, err
	}
	v := &verifier{ctx: ctx, a: a, lim: lim, rep: rep, opts: opts}
	if !v.checkNames() {
		return rep, nil
	}
	v.checkKeys()
	if err := v.checkSums(); err != nil {
		return nil, err
	}
	// The content checks (mostly JSON decoding) run alongside the parallel hashing of the
	// files; they authenticate what they read themselves (openAuth).
	v.cr = &Report{max: lim.MaxProblems, Top: v.top}
	var contentErr error
	var wg sync.WaitGroup
	if v.sumsOK {
		wg.Add(1)
		go func() {
			defer wg.Done()
			contentErr = v.checkContent()
		}()
	}
	hashErr := v.hashAll()
	wg.Wait()
	if err := errors.Join(hashErr, contentErr); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !v.sumsOK {
		rep.add("", "the contents were not examined further: without a valid signature over SHA256SUMS nothing in the bundle can be trusted")
		return rep, nil
	}
	if v.tainted.Load() {
		rep.add("", "the contents were not examined further: files they depend on were altered")
		return rep, nil
	}
	rep.merge(v.cr)
	return rep, nil
}

// checkNames checks the one top folder, duplicates and file/directory clashes. It returns
// false when the layout is too broken to go on.
func (v *verifier) checkNames() bool {
	entries := v.a.entries
	if len(entries) == 0 {
		v.rep.add("", "the archive is empty")
		return false
	}
	top, _, _ := strings.Cut(entries[0].name, "/")
	ok := true
	folded := map[string]string{} // lower-cased names with upper-case letters → name
	dirs := map[string]struct{}{} // the directories the names imply
	for i := range entries {
		e := &entries[i]
		t, _, found := strings.Cut(e.name, "/")
		if t != top || (!found && !e.dir) {
			v.rep.addf(printable(e.name), "outside the bundle's top folder %q (a bundle has exactly one)", printable(top))
			ok = false
		}
		if i > 0 && entries[i-1].name == e.name {
			v.rep.addf(printable(e.name), "duplicate entry name")
			ok = false
			continue
		}
		if lower := strings.ToLower(e.name); lower != e.name {
			other, seen := folded[lower]
			if o := v.a.lookup(lower); o != nil {
				other, seen = o.name, true
			}
			if seen {
				v.rep.addf(printable(e.name), "differs only in case from %q (one would overwrite the other on macOS and Windows)", printable(other))
				ok = false
			}
			folded[lower] = e.name
		}
		for j := 0; ; {
			k := strings.IndexByte(e.name[j:], '/')
			if k < 0 || j+k == len(e.name)-1 {
				break
			}
			if _, seen := dirs[e.name[:j+k]]; !seen {
				dirs[e.name[:j+k]] = struct{}{}
			}
			j += k + 1
		}
	}
	for i := range entries {
		if _, both := dirs[entries[i].name]; both && !entries[i].dir {
			v.rep.addf(printable(entries[i].name), "is both a file and a directory")
			ok = false
		}
	}
	if ok {
		v.top = top
		v.rep.Top = top
		// The content checks look up a file or more per artefact: an index by the path
		// relative to the top folder (the keys share the names' bytes).
		v.byRel = make(map[string]int32, len(entries))
		for i := range entries {
			v.byRel[v.rel(&entries[i])] = int32(i)
		}
	}
	return ok
}

func (a *archive) search(name string) int {
	lo, hi := 0, len(a.entries)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a.entries[m].name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// file returns the entry at rel (relative to the top folder), or nil.
func (v *verifier) file(rel string) *entry {
	i, ok := v.byRel[rel]
	if !ok || v.a.entries[i].dir {
		return nil
	}
	return &v.a.entries[i]
}

// readSmall reads a small file whole, bounded by MaxMetadataSize.
func (v *verifier) readSmall(rel string) ([]byte, error) {
	e := v.file(rel)
	if e == nil {
		return nil, fmt.Errorf("missing")
	}
	if e.size > uint64(v.lim.MaxMetadataSize) {
		return nil, fmt.Errorf("%d bytes, more than the limit of %d", e.size, v.lim.MaxMetadataSize)
	}
	rc := v.a.open(e)
	defer rc.Close()
	return io.ReadAll(rc)
}

// checkKeys settles the key to verify against and checks the bundle's key files hold it.
func (v *verifier) checkKeys() {
	var bundleKey *sign.Verifier
	if data, err := v.readSmall(PublicKeyFile); err != nil {
		v.rep.addf(PublicKeyFile, "cannot be read: %v", err)
	} else if k, err := sign.ParsePublicKey(data); err != nil {
		v.rep.addf(PublicKeyFile, "%v", err)
	} else {
		bundleKey = k
	}
	if data, err := v.readSmall(AllowedSignersFile); err != nil {
		v.rep.addf(AllowedSignersFile, "cannot be read: %v", err)
	} else if k, err := sign.ParsePublicKey(data); err != nil {
		v.rep.addf(AllowedSignersFile, "%v", err)
	} else if bundleKey != nil && !k.Equal(bundleKey) {
		v.rep.addf(AllowedSignersFile, "names key %s, but signing.pub is %s", k.Fingerprint(), bundleKey.Fingerprint())
	} else if bundleKey == nil {
		bundleKey = k
	}
	switch {
	case v.opts.Key != nil:
		v.key = v.opts.Key
		v.rep.Pinned = true
	case v.opts.Fingerprint != "":
		v.rep.Pinned = true
		switch {
		case bundleKey == nil:
			v.rep.addf("", "cannot check the pinned fingerprint %s: the bundle holds no readable key; pass --key with the public key", v.opts.Fingerprint)
		case bundleKey.Fingerprint() != v.opts.Fingerprint:
			v.rep.addf(PublicKeyFile, "the bundle's key is %s, not the pinned %s: the bundle was not signed by the key you trust", bundleKey.Fingerprint(), v.opts.Fingerprint)
		default:
			v.key = bundleKey
		}
	default: // TrustBundleKeyUnsafe
		v.key = bundleKey
		if bundleKey != nil {
			v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf("TRUST WAS NOT PINNED: the signatures were checked against the key inside the bundle (%s), which anyone can replace together with the signatures. Compare this fingerprint with the one you received out of band, or verify again with --key or --fingerprint.", bundleKey.Fingerprint()))
		} else {
			v.rep.add("", "the bundle holds no readable key to verify against")
		}
	}
	if v.key != nil {
		v.rep.Signer = v.key.Fingerprint()
		if bundleKey != nil && !bundleKey.Equal(v.key) && v.opts.Fingerprint == "" {
			v.rep.addf(PublicKeyFile, "holds key %s, not the pinned key %s: the standard tools in VERIFY.md would check against the wrong key", bundleKey.Fingerprint(), v.key.Fingerprint())
		}
	}
}

// checkSums reads and authenticates SHA256SUMS and matches it against the archive's files.
func (v *verifier) checkSums() error {
	for _, name := range []string{ManifestFile, VerifyMDFile, SumsFile, SumsSigFile, SumsSSHSigFile} {
		if v.file(name) == nil {
			v.rep.addf(name, "missing (every bundle has it)")
		}
	}
	e := v.file(SumsFile)
	if e == nil {
		return nil
	}
	maxSums := uint64(v.lim.MaxEntries) * uint64(64+2+v.lim.MaxNameLength+1)
	if e.size > maxSums {
		v.rep.addf(SumsFile, "%d bytes, more than %d entries can need", e.size, v.lim.MaxEntries)
		return nil
	}
	h := sha256.New()
	rc := v.a.open(e)
	defer rc.Close()
	sr := newSumsReader(io.TeeReader(rc, h), v.lim)
	parsed := true
	// SHA256SUMS and the entries are both sorted by path: one pass matches them.
	entries, j := v.a.entries, 0
	for {
		l, err := sr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			v.rep.add(SumsFile, err.Error())
			parsed = false
			break
		}
		for j < len(entries) && v.rel(&entries[j]) < l.path {
			j++
		}
		var f *entry
		if j < len(entries) && v.rel(&entries[j]) == l.path {
			f = &entries[j]
		}
		switch {
		case f == nil:
			v.rep.addf(l.path, "listed in SHA256SUMS but missing from the bundle (a removed file)")
		case f.dir:
			v.rep.addf(l.path, "listed in SHA256SUMS but a directory in the archive")
		default:
			f.sum, f.listed = l.sum, true
		}
	}
	// Read to the end so the entry reader checks the CRC and size.
	if _, err := io.Copy(io.Discard, io.TeeReader(rc, h)); err != nil {
		v.rep.addf(SumsFile, "cannot be read: %v", err)
		parsed = false
	}
	for i := range v.a.entries {
		f := &v.a.entries[i]
		if rel := v.rel(f); !f.dir && !f.listed && !unsigned[rel] {
			v.rep.addf(rel, "not listed in SHA256SUMS (an added file)")
		}
	}
	digest := evidence.DigestOf(h)
	sigOK := v.key != nil
	if v.key == nil {
		v.rep.add(SumsFile, "the signatures were not checked: there is no trusted key")
	}
	if v.key != nil {
		if der, err := v.readSmall(SumsSigFile); err != nil {
			v.rep.addf(SumsSigFile, "cannot be read: %v", err)
			sigOK = false
		} else if err := v.key.VerifyDER(digest, der); err != nil {
			v.rep.addf(SumsSigFile, "does not verify SHA256SUMS with key %s (a replaced signature or an altered SHA256SUMS)", v.key.Fingerprint())
			sigOK = false
		}
		if ssh, err := v.readSmall(SumsSSHSigFile); err != nil {
			v.rep.addf(SumsSSHSigFile, "cannot be read: %v", err)
			sigOK = false
		} else if err := v.key.VerifySSH(sign.NamespaceBundle, digest, ssh); err != nil {
			v.rep.addf(SumsSSHSigFile, "does not verify SHA256SUMS: %s", strings.TrimPrefix(err.Error(), sign.ErrBadSignature.Error()+": "))
			sigOK = false
		}
	}
	v.sumsOK = sigOK && parsed
	return nil
}

// hashAll hashes every listed file in parallel and compares it with SHA256SUMS. The files
// are read in archive order, in runs of consecutive entries of up to hashSpan bytes that a
// worker reads with one ReadAt and hashes from memory: a bundle of small files costs one
// read per run instead of one (or more) per file.
func (v *verifier) hashAll() error {
	var next atomic.Int64
	var files, bytesRead atomic.Int64
	var wg sync.WaitGroup
	entries := v.a.entries
	order := make([]int32, 0, len(entries))
	for i := range entries {
		if entries[i].listed {
			order = append(order, int32(i))
		}
	}
	slices.SortFunc(order, func(i, j int32) int { return cmp.Compare(entries[i].data, entries[j].data) })
	// runs[k] is the index in order where the k-th run starts.
	runs := make([]int32, 0, len(order)/64+2)
	for i := range order {
		e := &entries[order[i]]
		if i == 0 || e.data+e.comp-entries[order[runs[len(runs)-1]]].data > hashSpan {
			runs = append(runs, int32(i))
		}
	}
	runs = append(runs, int32(len(order)))
	var ioErr error
	var ioOnce sync.Once
	failed := func(err error) bool {
		var pe *os.PathError
		if errors.As(err, &pe) {
			ioOnce.Do(func() { ioErr = err })
			return true
		}
		return false
	}
	for w := 0; w < v.opts.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := newMemHasher()
			var span []byte
			for {
				k := int(next.Add(1) - 1)
				if k >= len(runs)-1 || v.ctx.Err() != nil {
					return
				}
				run := order[runs[k]:runs[k+1]]
				first, last := &entries[run[0]], &entries[run[len(run)-1]]
				if len(run) == 1 && first.comp > hashSpan {
					n, err := v.hashStreamed(first, m)
					files.Add(1)
					bytesRead.Add(n)
					if err != nil && failed(err) {
						return
					}
					continue
				}
				span = slices.Grow(span[:0], int(last.data+last.comp-first.data))[:last.data+last.comp-first.data]
				if _, err := v.a.r.ReadAt(span, int64(first.data)); err != nil {
					ioOnce.Do(func() { ioErr = err })
					return
				}
				for _, i := range run {
					e := &entries[i]
					got, err := m.hash(e, span[e.data-first.data:e.data-first.data+e.comp])
					files.Add(1)
					bytesRead.Add(int64(e.size))
					v.compareSum(e, got, err)
				}
			}
		}()
	}
	wg.Wait()
	v.rep.Files = int(files.Load())
	v.rep.Bytes = bytesRead.Load()
	if ioErr != nil {
		return fmt.Errorf("could not read the bundle: %w", ioErr)
	}
	return nil
}

// hashSpan bounds the bytes a hashing worker reads at once; a larger entry is streamed.
// A variable for the tests.
var hashSpan uint64 = 1 << 20

// hashStreamed hashes an entry too large to read at once; an I/O error is returned.
func (v *verifier) hashStreamed(e *entry, m *memHasher) (int64, error) {
	m.sha.Reset()
	rc := v.a.open(e)
	n, err := io.CopyBuffer(m.sha, rc, m.copy)
	rc.Close()
	var pe *os.PathError
	if errors.As(err, &pe) {
		return n, err
	}
	var got [32]byte
	m.sha.Sum(got[:0])
	v.compareSum(e, got, err)
	return n, nil
}

// compareSum reports an entry that could not be read or does not match SHA256SUMS.
func (v *verifier) compareSum(e *entry, got [32]byte, err error) {
	switch {
	case err != nil:
		v.rep.addf(v.rel(e), "cannot be read: %v", err)
	case got != e.sum:
		v.rep.addf(v.rel(e), "content does not match SHA256SUMS (altered)")
	}
}

// rel returns an entry's path relative to the top folder.
func (v *verifier) rel(e *entry) string { return e.name[min(len(v.top)+1, len(e.name)):] }

// listedFile returns the entry at rel if it is a file SHA256SUMS lists.
func (v *verifier) listedFile(rel string) *entry {
	e := v.file(rel)
	if e == nil || !e.listed {
		return nil
	}
	return e
}

// errNotAuthentic marks content that does not hash to its SHA256SUMS line.
var errNotAuthentic = errors.New("the file does not match SHA256SUMS")

// openAuth opens a listed file for parsing, hashing it as it is read: at its end the reader
// fails with errNotAuthentic (and marks the verification tainted) if it does not match
// SHA256SUMS, so nothing parsed from altered bytes is reported as a finding.
func (v *verifier) openAuth(e *entry) io.ReadCloser {
	return &rehashReader{rc: v.a.open(e), h: sha256.New(), want: e.sum, tainted: &v.tainted}
}

// readAuth reads a small listed file whole and authenticated.
func (v *verifier) readAuth(rel string) ([]byte, error) {
	e := v.listedFile(rel)
	if e == nil {
		return nil, errors.New("missing")
	}
	if e.size > uint64(v.lim.MaxMetadataSize) {
		return nil, fmt.Errorf("%d bytes, more than the limit of %d", e.size, v.lim.MaxMetadataSize)
	}
	rc := v.openAuth(e)
	defer rc.Close()
	return io.ReadAll(rc)
}

type rehashReader struct {
	rc      io.ReadCloser
	h       hash.Hash
	want    [32]byte
	tainted *atomic.Bool
}

func (r *rehashReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.h.Write(p[:n])
	if err == io.EOF && !bytes.Equal(r.h.Sum(nil), r.want[:]) {
		r.tainted.Store(true)
		return n, errNotAuthentic
	}
	if err != nil && err != io.EOF {
		r.tainted.Store(true) // unreadable: its content cannot be vouched for either
	}
	return n, err
}

// Close reads what the parser left unread, so even a parser that stops early (a header
// reader, a decoding error) learns whether the bytes it saw were authentic.
func (r *rehashReader) Close() error {
	_, _ = io.Copy(io.Discard, readerOnly{r})
	return r.rc.Close()
}

type readerOnly struct{ io.Reader }
