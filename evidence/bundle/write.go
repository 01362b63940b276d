package bundle

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"github.com/klauspost/compress/flate"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
)

// Compression chooses how entries are written.
type Compression int

const (
	// Deflate compresses every entry (fastest level; evidence JSON shrinks ~20×) and stores
	// those that do not shrink or would exceed half the reader's ratio limit.
	Deflate Compression = iota
	// Store writes every entry uncompressed: larger bundles, less CPU to build and verify.
	Store
)

// WriterOptions configure a bundle.
type WriterOptions struct {
	Framework      string
	FrameworkTitle string
	Period         Period
	Selection      Selection
	// Signer signs SHA256SUMS; the bundle is verified against its key before it is committed.
	Signer *sign.Signer
	// CreatedAt defaults to the current time.
	CreatedAt time.Time
	Version   string
	// TempDir holds spools ("" = the system's temporary directory). The archive itself is
	// written next to the output path and renamed into place.
	TempDir     string
	Compression Compression
	// Workers compress entries in parallel (default GOMAXPROCS, at most 8).
	Workers int
	// Limits are the reader's limits the bundle must stay within (default DefaultLimits).
	Limits Limits
}

// Writer writes one bundle. Add runs, objects, artefacts and files, then Commit; Abort (or
// a failed Commit) removes everything. Methods must be called from one goroutine;
// compression runs in background workers.
type Writer struct {
	opts WriterOptions
	lim  Limits
	path string
	tmp  *os.File
	// tmpLock is held on tmp while it is written, so RemoveStaleTemp never takes it.
	tmpLock *flock.Flock
	id      string
	top     string
	zw      *zipWriter
	zmu     sync.Mutex
	jobs    chan job
	wg      sync.WaitGroup
	errMu   sync.Mutex
	err     error
	ctx     context.Context
	stop    context.CancelFunc

	mu      sync.Mutex // guards files (filled by workers)
	files   []sumLine  // SHA256SUMS lines of everything but objects
	objects map[objectKey]struct{}
	exts    []string
	extIdx  map[string]uint8

	artefacts   *os.File
	artefactsW  *bufio.Writer
	artefactEnc *json.Encoder
	runs        []Run
	report      []string
	counts      Counts
	entries     int
	bytesIn     int64
	done        bool
	// noSelfCheck skips the verification before commit, so tests can write the broken
	// bundles a buggy or malicious builder might.
	noSelfCheck bool
}

// objectKey names an object file: directory, digest and extension (an index into exts).
type objectKey struct {
	dir uint8
	ext uint8
	d   evidence.Digest
}

var objectDirs = []string{DirArtefacts, DirRaw, DirResults}

type job struct {
	rel  string
	open func(ctx context.Context) (io.ReadCloser, error)
	// want is the content's digest when the caller knows it (objects, run manifests): the
	// source verifies it while reading (store.VerifyingReader) and the final verification
	// re-checks it, so the writer does not hash it again.
	want *evidence.Digest
}

// NewWriter starts a bundle that Commit will place at path. It refuses to overwrite an
// existing file.
func NewWriter(path string, opts WriterOptions) (*Writer, error) {
	if opts.Signer == nil {
		return nil, errors.New("could not start a bundle: no signer")
	}
	if opts.Framework == "" {
		return nil, errors.New("could not start a bundle: no framework")
	}
	if opts.Period.To.Before(opts.Period.From) {
		return nil, errors.New("could not start a bundle: the period ends before it starts")
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("could not write the bundle: %s already exists", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("could not write the bundle: %w", err)
	}
	if opts.CreatedAt.IsZero() {
		opts.CreatedAt = time.Now()
	}
	opts.CreatedAt = opts.CreatedAt.UTC()
	if opts.Workers <= 0 {
		opts.Workers = min(runtime.GOMAXPROCS(0), 8)
	}
	id, err := newUUID()
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("could not write the bundle: %w", err)
	}
	w := &Writer{opts: opts, lim: opts.Limits.orDefault(), path: path, tmp: tmp, tmpLock: lockTemp(tmp.Name()), id: id,
		objects: map[objectKey]struct{}{}, extIdx: map[string]uint8{}}
	w.top = fmt.Sprintf("%s%s-%s_%s-%s", TopPrefix, safeName(opts.Framework),
		opts.Period.From.UTC().Format("20060102"), opts.Period.To.UTC().Format("20060102"), id[:8])
	if w.zw, err = newZipWriter(tmp, opts.TempDir, opts.CreatedAt); err != nil {
		w.cleanup()
		return nil, err
	}
	if w.artefacts, err = os.CreateTemp(opts.TempDir, "exhibit-bundle-artefacts-*.jsonl"); err != nil {
		w.cleanup()
		return nil, fmt.Errorf("could not create the artefact spool: %w", err)
	}
	w.artefactsW = bufio.NewWriterSize(w.artefacts, 256<<10)
	w.artefactEnc = json.NewEncoder(w.artefactsW)
	w.artefactEnc.SetEscapeHTML(false)
	w.ctx, w.stop = context.WithCancel(context.Background())
	w.jobs = make(chan job, opts.Workers)
	for i := 0; i < opts.Workers; i++ {
		w.wg.Add(1)
		go w.worker()
	}
	return w, nil
}

// ID returns the bundle id (a random UUID).
func (w *Writer) ID() string { return w.id }

// Top returns the name of the bundle's top folder.
func (w *Writer) Top() string { return w.top }

// CreatedAt returns the bundle's creation time.
func (w *Writer) CreatedAt() time.Time { return w.opts.CreatedAt }

func (w *Writer) fail(err error) {
	w.errMu.Lock()
	if w.err == nil {
		w.err = err
		w.stop()
	}
	w.errMu.Unlock()
}

// Err returns the first error of the writer's workers.
func (w *Writer) Err() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

func (w *Writer) submit(ctx context.Context, j job) error {
	if err := w.Err(); err != nil {
		return err
	}
	if w.done {
		return errors.New("the bundle is already committed or aborted")
	}
	select {
	case w.jobs <- j:
		return nil
	case <-ctx.Done():
		w.fail(ctx.Err())
		return ctx.Err()
	case <-w.ctx.Done():
		return w.Err()
	}
}

// ObjectPath returns the path an object is bundled under: dir/<hex><ext>.
func ObjectPath(dir string, d evidence.Digest, ext string) string {
	return dir + "/" + d.String() + ext
}

// AddObject bundles a stored object under dir (DirArtefacts, DirRaw or DirResults) as
// <hex><ext> and returns its path; an object already added is not added again. open must
// return a reader that fails if the bytes do not hash to ref.Digest (store.Store.Get does).
func (w *Writer) AddObject(ctx context.Context, dir string, ref evidence.ObjectRef, ext string, open func(ctx context.Context) (io.ReadCloser, error)) (string, error) {
	di := -1
	for i, d := range objectDirs {
		if d == dir {
			di = i
		}
	}
	if di < 0 {
		return "", fmt.Errorf("could not add object %s: %q is not an object directory", ref.Digest, dir)
	}
	if ext != "" && (!strings.HasPrefix(ext, ".") || safeName(ext[1:]) != ext[1:] || len(ext) > 16) {
		return "", fmt.Errorf("could not add object %s: invalid extension %q", ref.Digest, ext)
	}
	xi, ok := w.extIdx[ext]
	if !ok {
		if len(w.exts) == 255 {
			return "", errors.New("could not add object: too many file extensions")
		}
		xi = uint8(len(w.exts))
		w.exts = append(w.exts, ext)
		w.extIdx[ext] = xi
	}
	rel := ObjectPath(dir, ref.Digest, ext)
	key := objectKey{dir: uint8(di), ext: xi, d: ref.Digest}
	if _, dup := w.objects[key]; dup {
		return rel, nil
	}
	d := ref.Digest
	if err := w.submit(ctx, job{rel: rel, open: open, want: &d}); err != nil {
		return "", err
	}
	w.objects[key] = struct{}{}
	switch dir {
	case DirArtefacts:
		if ext == ".json" {
			w.counts.Documents++
		} else {
			w.counts.Files++
		}
	case DirRaw:
		w.counts.Raw++
	case DirResults:
		w.counts.Results++
	}
	return rel, nil
}

// RunInput is one run manifest to bundle.
type RunInput struct {
	Ref    manifest.Ref
	Header manifest.Header
	Role   string
	// Open returns the manifest's bytes, verified against Ref.Manifest.Digest.
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// AddRun bundles a run manifest byte for byte with its two signatures. Runs of the chain
// segment (RoleAnchor, RolePeriod) must be added in chain order, oldest first.
func (w *Writer) AddRun(ctx context.Context, in RunInput) (Run, error) {
	switch in.Role {
	case RoleAnchor, RolePeriod, RoleEvaluation, RoleAttestation:
	default:
		return Run{}, fmt.Errorf("could not add run %s: unknown role %q", in.Ref.ID, in.Role)
	}
	base := fmt.Sprintf("%s/%06d_%s.json", DirRuns, len(w.runs), safeName(in.Ref.ID))
	r := Run{ID: in.Ref.ID, Type: in.Ref.Type, Role: in.Role, StartedAt: in.Ref.StartedAt.UTC(),
		Outcome: in.Header.Outcome, Manifest: in.Ref.Manifest.Digest, Size: in.Ref.Manifest.Size,
		Previous: in.Ref.Previous, Evaluates: in.Header.Evaluates,
		Path: base, Signature: base + ".sig", SSHSig: base + ".sshsig"}
	if in.Header.Results != nil {
		d := in.Header.Results.Digest
		r.Results = &d
	}
	d := in.Ref.Manifest.Digest
	if err := w.submit(ctx, job{rel: r.Path, open: in.Open, want: &d}); err != nil {
		return Run{}, err
	}
	if err := w.AddBytes(ctx, r.Signature, in.Ref.Signature); err != nil {
		return Run{}, err
	}
	if err := w.AddBytes(ctx, r.SSHSig, []byte(in.Ref.SSHSig)); err != nil {
		return Run{}, err
	}
	w.runs = append(w.runs, r)
	return r, nil
}

// AddBytes bundles a small file at rel (relative to the top folder).
func (w *Writer) AddBytes(ctx context.Context, rel string, data []byte) error {
	return w.AddFile(ctx, rel, func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}

// AddFile bundles a file at rel whose content open yields (hashed while it is written).
func (w *Writer) AddFile(ctx context.Context, rel string, open func(ctx context.Context) (io.ReadCloser, error)) error {
	if msg := unsafeName(rel, w.lim); msg != "" || strings.HasSuffix(rel, "/") {
		return fmt.Errorf("could not add %q to the bundle: %s", rel, msg)
	}
	return w.submit(ctx, job{rel: rel, open: open})
}

// AddReport bundles a report file under report/ and lists it in manifest.json, so the
// verifier checks what it references.
func (w *Writer) AddReport(ctx context.Context, name string, open func(ctx context.Context) (io.ReadCloser, error)) error {
	rel := DirReport + "/" + name
	if err := w.AddFile(ctx, rel, open); err != nil {
		return err
	}
	w.report = append(w.report, rel)
	return nil
}

// AddArtefact appends an artefact to manifest.json. Its files must have been added
// (AddObject returns their paths).
func (w *Writer) AddArtefact(a Artefact) error {
	if err := w.Err(); err != nil {
		return err
	}
	a.CollectedAt = a.CollectedAt.UTC()
	if err := w.artefactEnc.Encode(a); err != nil {
		w.fail(fmt.Errorf("could not spool artefact %s %s: %w", a.Kind, a.Subject, err))
		return w.Err()
	}
	w.counts.Artefacts++
	if a.Status.IsGap() {
		w.counts.Gaps++
	}
	return nil
}

// worker compresses and writes entries until the job channel closes.
func (w *Writer) worker() {
	defer w.wg.Done()
	sp := &spool{memLimit: 4 << 20, dir: w.opts.TempDir}
	defer sp.reset()
	buf := make([]byte, 128<<10) // io.Copy would allocate 32 KiB per entry
	var fw *flate.Writer
	for j := range w.jobs {
		if w.ctx.Err() != nil {
			continue // drain after a failure
		}
		if fw == nil && w.opts.Compression == Deflate {
			fw, _ = flate.NewWriter(nil, flate.BestSpeed)
		}
		if err := w.writeEntry(j, sp, fw, buf); err != nil {
			w.fail(fmt.Errorf("could not bundle %s: %w", j.rel, err))
		}
		sp.reset()
	}
}

// writeEntry reads one source, compresses it into the spool and appends it to the archive.
func (w *Writer) writeEntry(j job, sp *spool, fw *flate.Writer, buf []byte) error {
	rc, err := j.open(w.ctx)
	if err != nil {
		return err
	}
	crc := crc32.NewIEEE()
	var sha hash.Hash
	sinks := []io.Writer{crc}
	if j.want == nil {
		sha = sha256.New()
		sinks = append(sinks, sha)
	}
	var dst io.Writer = sp
	if fw != nil {
		fw.Reset(sp)
		dst = fw
	}
	size, err := io.CopyBuffer(dst, io.TeeReader(rc, io.MultiWriter(sinks...)), buf)
	rc.Close()
	if err != nil {
		return err
	}
	if size > w.lim.MaxEntrySize {
		return fmt.Errorf("%d bytes, more than the reader's limit of %d", size, w.lim.MaxEntrySize)
	}
	method := uint16(methodStore)
	if fw != nil {
		if err := fw.Close(); err != nil {
			return err
		}
		method = methodDeflate
		// Incompressible data is stored; so is data that compresses so well that a
		// verifier could mistake it for a zip bomb.
		if sp.n >= size || size > (w.lim.MaxRatio/2)*sp.n {
			method = methodStore
		}
	}
	h := zipHeader{name: w.top + "/" + j.rel, method: method, crc: crc.Sum32(), size: uint64(size), comp: uint64(sp.n)}
	var payload io.Reader
	if method == methodStore && fw != nil {
		// The spool holds compressed bytes: read the source again, checking it is unchanged.
		rc2, err := j.open(w.ctx)
		if err != nil {
			return err
		}
		defer rc2.Close()
		h.comp = uint64(size)
		payload = &crcCheckReader{r: rc2, h: crc32.NewIEEE(), want: h.crc, n: size}
	} else {
		if payload, err = sp.reader(); err != nil {
			return err
		}
	}
	w.zmu.Lock()
	err = w.zw.add(h, payload)
	w.entries++
	w.bytesIn += size
	w.zmu.Unlock()
	if err != nil {
		return err
	}
	var sum [32]byte
	if sha != nil {
		sha.Sum(sum[:0])
	} else {
		sum = *j.want
	}
	if !w.isObject(j.rel) {
		w.mu.Lock()
		w.files = append(w.files, sumLine{path: j.rel, sum: sum})
		w.mu.Unlock()
	}
	return nil
}

func (w *Writer) isObject(rel string) bool {
	dir, _, _ := strings.Cut(rel, "/")
	for _, d := range objectDirs {
		if d == dir {
			return true
		}
	}
	return false
}

// crcCheckReader yields exactly n bytes and fails if their CRC-32 differs from want: the
// second read of a source must give the bytes the header was written for.
type crcCheckReader struct {
	r    io.Reader
	h    hash.Hash32
	want uint32
	n    int64
	read int64
}

func (c *crcCheckReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.read += int64(n)
	if c.read > c.n {
		return n, errors.New("the source grew between two reads")
	}
	if err == io.EOF && (c.read != c.n || c.h.Sum32() != c.want) {
		return n, errors.New("the source changed between two reads")
	}
	return n, err
}

// Summary describes a committed bundle.
type Summary struct {
	Path     string
	ID       string
	Top      string
	Manifest Manifest
	// Entries is the number of files in the archive; Bytes its size; Uncompressed the
	// sum of the files' sizes.
	Entries      int
	Bytes        int64
	Uncompressed int64
	// Verification is the report of the verification run on the finished archive.
	Verification *Report
}

// Commit writes manifest.json, VERIFY.md, the keys, SHA256SUMS and its signatures, closes
// the archive, verifies it against the signer's key and only then moves it into place.
// Whatever fails, nothing is left at the output path.
func (w *Writer) Commit(ctx context.Context) (*Summary, error) {
	if w.done {
		return nil, errors.New("the bundle is already committed or aborted")
	}
	sum, err := w.commit(ctx)
	if err != nil {
		w.Abort()
		return nil, err
	}
	return sum, nil
}

func (w *Writer) commit(ctx context.Context) (*Summary, error) {
	if err := w.drain(); err != nil {
		return nil, err
	}
	m := Manifest{Schema: Schema, ID: w.id, Framework: w.opts.Framework, FrameworkTitle: w.opts.FrameworkTitle,
		Period: Period{From: w.opts.Period.From.UTC(), To: w.opts.Period.To.UTC()}, CreatedAt: w.opts.CreatedAt,
		Signer: w.opts.Signer.Fingerprint(), Version: w.opts.Version, Selection: w.opts.Selection.normalise(),
		Runs: w.runs, Report: w.report, Counts: w.counts}
	if m.Report == nil {
		m.Report = []string{}
	}
	m.Counts.Runs = len(w.runs)
	for i := len(w.runs) - 1; i >= 0; i-- {
		if w.runs[i].Role == RolePeriod {
			m.LastRun = LastRun{ID: w.runs[i].ID, Manifest: w.runs[i].Manifest}
			break
		}
	}
	if m.LastRun.ID == "" {
		return nil, errors.New("could not write the bundle: it covers no run of the period")
	}
	if err := w.artefactsW.Flush(); err != nil {
		return nil, fmt.Errorf("could not spool artefacts: %w", err)
	}
	head, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, err
	}
	// Restart the pool for the last files: they are few, but manifest.json may be large.
	w.restart()
	artefacts := w.artefacts
	if err := w.AddFile(ctx, ManifestFile, func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(bytes.NewReader(head[:len(head)-2]), strings.NewReader(",\n \"artefacts\": [\n"),
			&artefactLines{r: bufio.NewReaderSize(io.NewSectionReader(artefacts, 0, 1<<62), 256<<10)}, strings.NewReader("\n ]\n}\n"))), nil
	}); err != nil {
		return nil, err
	}
	v := w.opts.Signer.Verifier()
	for _, f := range []struct {
		name string
		data []byte
	}{
		{PublicKeyFile, v.PublicKeyPEM()},
		{AllowedSignersFile, v.AllowedSigners()},
		{VerifyMDFile, verifyMarkdown(w.top, m, v.Fingerprint())},
	} {
		if err := w.AddBytes(ctx, f.name, f.data); err != nil {
			return nil, err
		}
	}
	if err := w.drain(); err != nil {
		return nil, err
	}

	// SHA256SUMS: the few plain files and the sorted objects, merged in path order.
	sums, digest, err := w.writeSums()
	if err != nil {
		return nil, err
	}
	defer func() { sums.Close(); os.Remove(sums.Name()) }()
	sig, err := w.opts.Signer.Sign(sign.NamespaceBundle, digest)
	if err != nil {
		return nil, fmt.Errorf("could not sign SHA256SUMS: %w", err)
	}
	w.restart()
	if err := w.AddFile(ctx, SumsFile, func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(io.NewSectionReader(sums, 0, 1<<62)), nil
	}); err != nil {
		return nil, err
	}
	if err := w.AddBytes(ctx, SumsSigFile, sig.DER); err != nil {
		return nil, err
	}
	if err := w.AddBytes(ctx, SumsSSHSigFile, sig.SSH); err != nil {
		return nil, err
	}
	if err := w.drain(); err != nil {
		return nil, err
	}
	if err := w.zw.close(); err != nil {
		return nil, fmt.Errorf("could not finish the archive: %w", err)
	}
	if err := w.tmp.Sync(); err != nil {
		return nil, fmt.Errorf("could not write the bundle: %w", err)
	}
	st, err := w.tmp.Stat()
	if err != nil {
		return nil, err
	}

	// Verify what was written, as an auditor will, before calling it a bundle.
	var rep *Report
	if !w.noSelfCheck {
		rep, err = Verify(ctx, w.tmp, st.Size(), VerifyOptions{Key: v, Limits: w.opts.Limits, Workers: w.opts.Workers})
		if err != nil {
			return nil, fmt.Errorf("could not verify the new bundle: %w", err)
		}
		if !rep.OK() {
			return nil, fmt.Errorf("the new bundle does not verify (%d problems), first: %s", len(rep.Problems)+rep.More, rep.Problems[0])
		}
	}
	if err := w.tmp.Close(); err != nil {
		return nil, fmt.Errorf("could not write the bundle: %w", err)
	}
	// Link, unlike rename, never replaces a file that appeared at the path meanwhile.
	if err := os.Link(w.tmp.Name(), w.path); err != nil {
		return nil, fmt.Errorf("could not move the bundle into place: %w", err)
	}
	os.Remove(w.tmp.Name())
	unlockTemp(w.tmpLock)
	syncDir(filepath.Dir(w.path))
	w.done = true
	w.cleanupSpools()
	return &Summary{Path: w.path, ID: w.id, Top: w.top, Manifest: m, Entries: w.entries, Bytes: st.Size(),
		Uncompressed: w.bytesIn, Verification: rep}, nil
}

// drain waits for the workers to finish what was submitted.
func (w *Writer) drain() error {
	close(w.jobs)
	w.wg.Wait()
	return w.Err()
}

// restart starts the workers again after a drain.
func (w *Writer) restart() {
	w.jobs = make(chan job, w.opts.Workers)
	for i := 0; i < w.opts.Workers; i++ {
		w.wg.Add(1)
		go w.worker()
	}
}

// writeSums writes SHA256SUMS to a spool and returns it with its digest.
func (w *Writer) writeSums() (*os.File, evidence.Digest, error) {
	f, err := os.CreateTemp(w.opts.TempDir, "exhibit-bundle-sums-*")
	if err != nil {
		return nil, evidence.Digest{}, fmt.Errorf("could not write SHA256SUMS: %w", err)
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 256<<10)
	// Every object path starts with its directory, and no plain file lives in an object
	// directory, so sorting plain files and each directory's objects and merging by path
	// gives the sorted whole.
	keys := make([]objectKey, 0, len(w.objects))
	for k := range w.objects {
		keys = append(keys, k)
	}
	w.objects = nil
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.dir != b.dir {
			return objectDirs[a.dir] < objectDirs[b.dir]
		}
		if c := bytes.Compare(a.d[:], b.d[:]); c != 0 {
			return c < 0
		}
		return w.exts[a.ext] < w.exts[b.ext]
	})
	plain := w.files
	sort.Slice(plain, func(i, j int) bool { return plain[i].path < plain[j].path })
	var line []byte
	var prev string
	emit := func(sum [32]byte, path string) {
		if path == prev {
			w.fail(fmt.Errorf("could not write SHA256SUMS: %s was added twice", path))
		}
		prev = path
		line = appendSumLine(line[:0], sum, path)
		bw.Write(line)
	}
	i, k := 0, 0
	for i < len(plain) || k < len(keys) {
		var op string
		if k < len(keys) {
			op = ObjectPath(objectDirs[keys[k].dir], keys[k].d, w.exts[keys[k].ext])
		}
		if i < len(plain) && (k >= len(keys) || plain[i].path < op) {
			emit(plain[i].sum, plain[i].path)
			i++
			continue
		}
		emit(keys[k].d, op)
		k++
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, evidence.Digest{}, fmt.Errorf("could not write SHA256SUMS: %w", err)
	}
	if err := w.Err(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, evidence.Digest{}, err
	}
	return f, evidence.DigestOf(h), nil
}

// Abort stops the workers and removes the unfinished archive and every spool.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.fail(errors.New("aborted"))
	func() {
		defer func() { recover() }() // the job channel may already be closed
		close(w.jobs)
	}()
	w.wg.Wait()
	w.cleanup()
}

func (w *Writer) cleanup() {
	if w.zw != nil {
		w.zw.discard()
	}
	if w.tmp != nil {
		w.tmp.Close()
		os.Remove(w.tmp.Name())
		unlockTemp(w.tmpLock)
	}
	w.cleanupSpools()
}

func (w *Writer) cleanupSpools() {
	if w.artefacts != nil {
		w.artefacts.Close()
		os.Remove(w.artefacts.Name())
		w.artefacts = nil
	}
}

// artefactLines turns the spool's JSON lines into the list's elements: ",\n" between them.
type artefactLines struct {
	r     *bufio.Reader
	first bool
	buf   []byte
	eof   bool
}

func (a *artefactLines) Read(p []byte) (int, error) {
	for len(a.buf) == 0 {
		if a.eof {
			return 0, io.EOF
		}
		line, err := a.r.ReadBytes('\n')
		if err == io.EOF {
			a.eof = true
			if len(line) != 0 {
				return 0, errors.New("the artefact spool ends with a partial line")
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		if a.first {
			a.buf = append(a.buf, ",\n"...)
		}
		a.first = true
		a.buf = append(a.buf, "  "...)
		a.buf = append(a.buf, line[:len(line)-1]...)
	}
	n := copy(p, a.buf)
	a.buf = a.buf[n:]
	return n, nil
}

func (s Selection) normalise() Selection {
	for _, l := range []*[]string{&s.Controls, &s.Connectors, &s.Kinds} {
		if *l == nil {
			*l = []string{}
		}
		sort.Strings(*l)
	}
	return s
}

// safeName keeps letters, digits, '.', '_' and '-' and replaces the rest with '_', so ids
// and framework names make portable file names.
func safeName(s string) string {
	out := []byte(s)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			out[i] = '_'
		}
	}
	if len(out) == 0 || out[0] == '.' {
		return "_" + string(out)
	}
	return string(out)
}

// newUUID returns a random (version 4) UUID.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("could not make a bundle id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // not every system can sync a directory; the rename is then best effort
		d.Close()
	}
}
