package bundle

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"
)

// entry is one file of an archive as its central directory describes it, checked against
// its local header.
type entry struct {
	name    string
	method  uint16
	flags   uint16
	crc     uint32
	comp    uint64
	size    uint64
	dosTime uint16
	dosDate uint16
	header  uint64 // offset of the local header
	data    uint64 // offset of the data
	dir     bool
	sum     [32]byte // expected SHA-256 (from SHA256SUMS)
	listed  bool     // named in SHA256SUMS
}

// archive is a parsed zip archive: its entries sorted by name.
type archive struct {
	r       io.ReaderAt
	entries []entry
	lim     Limits
}

// formatError is a problem with the archive as a whole that stops reading it.
type formatError struct{ msg string }

func (e *formatError) Error() string { return e.msg }

func formatErr(format string, args ...any) error {
	return &formatError{msg: fmt.Sprintf(format, args...)}
}

// readArchive parses the end records and the central directory of the archive in r, checks
// every entry's local header, and reports unsafe or inconsistent entries through add. It
// reads no content. It returns a *formatError when the archive cannot be read as a zip at
// all, and other errors for I/O failures.
//
// Every byte of the archive must be accounted for, laid out exactly as zipWriter writes it:
// the entries from offset 0, each local header followed by its data and immediately by the
// next local header; then the central directory, its records in the same order; then the
// end records. Each header and record must be byte for byte what the writer would write for
// the entry (localHeader, centralRecord, endRecords). So no reader, whether it starts from
// the end record, the zip64 end record or the first local header (a streaming reader),
// whether it trusts local headers, data descriptors or central records, finds anything
// else: no prepended or appended data, no entry hidden in a gap, no second file list.
func readArchive(r io.ReaderAt, size int64, lim Limits, add func(path, msg string)) (*archive, error) {
	if size < eocdLen {
		return nil, formatErr("not a zip archive: %d bytes", size)
	}
	var eocd [eocdLen]byte
	if _, err := r.ReadAt(eocd[:], size-eocdLen); err != nil {
		return nil, fmt.Errorf("could not read the end of the archive: %w", err)
	}
	if binary.LittleEndian.Uint32(eocd[:]) != sigEOCD {
		if tail := findEOCD(r, size); tail >= 0 {
			return nil, formatErr("the archive has %d bytes after its end record (a zip comment or appended data); bundles have none", size-tail-eocdLen)
		}
		return nil, formatErr("not a zip archive: no end of central directory record")
	}
	le := binary.LittleEndian
	if n := le.Uint16(eocd[20:]); n != 0 {
		return nil, formatErr("the end record declares a %d-byte comment that the archive does not hold; bundles have no comment", n)
	}
	disk, cdDisk := le.Uint16(eocd[4:]), le.Uint16(eocd[6:])
	count := uint64(le.Uint16(eocd[10:]))
	cdSize := uint64(le.Uint32(eocd[12:]))
	cdOff := uint64(le.Uint32(eocd[16:]))
	if disk != 0 || cdDisk != 0 || le.Uint16(eocd[8:]) != le.Uint16(eocd[10:]) {
		return nil, formatErr("multi-volume zip archives are not supported")
	}
	cdEnd := uint64(size - eocdLen)
	zip64 := false
	// A zip64 end record comes with a locator right before the end record.
	if size >= eocdLen+locator64Len {
		var loc [locator64Len]byte
		if _, err := r.ReadAt(loc[:], size-eocdLen-locator64Len); err != nil {
			return nil, fmt.Errorf("could not read the archive: %w", err)
		}
		if le.Uint32(loc[:]) == sigLocator64 {
			if le.Uint32(loc[4:]) != 0 || le.Uint32(loc[16:]) != 1 {
				return nil, formatErr("multi-volume zip64 archives are not supported")
			}
			off := le.Uint64(loc[8:])
			if off > uint64(size-eocdLen-locator64Len) || uint64(size-eocdLen-locator64Len)-off < eocd64Len {
				return nil, formatErr("the zip64 end record offset %d is outside the archive", off)
			}
			var rec [eocd64Len]byte
			if _, err := r.ReadAt(rec[:], int64(off)); err != nil {
				return nil, fmt.Errorf("could not read the archive: %w", err)
			}
			if le.Uint32(rec[:]) != sigEOCD64 {
				return nil, formatErr("no zip64 end record where the locator points")
			}
			if off+12+le.Uint64(rec[4:]) != uint64(size-eocdLen-locator64Len) {
				return nil, formatErr("the zip64 end record does not end where the locator starts")
			}
			if le.Uint32(rec[16:]) != 0 || le.Uint32(rec[20:]) != 0 || le.Uint64(rec[24:]) != le.Uint64(rec[32:]) {
				return nil, formatErr("multi-volume zip64 archives are not supported")
			}
			// Readers that do not know zip64, or that take a field of the end record when
			// it is not the overflow marker, use the end record: it must describe the same
			// central directory.
			count64, size64, off64 := le.Uint64(rec[32:]), le.Uint64(rec[40:]), le.Uint64(rec[48:])
			if !sameOrMarker(count, count64, max16) || !sameOrMarker(cdSize, size64, max32) || !sameOrMarker(cdOff, off64, max32) {
				return nil, formatErr("the end record (%d entries, %d bytes at offset %d) and the zip64 end record (%d entries, %d bytes at offset %d) describe different central directories: readers would list different files", count, cdSize, cdOff, count64, size64, off64)
			}
			count, cdSize, cdOff = count64, size64, off64
			cdEnd = off
			zip64 = true
		}
	}
	if count > uint64(lim.MaxEntries) {
		return nil, formatErr("the archive declares %d entries, more than the limit of %d", count, lim.MaxEntries)
	}
	if cdOff > cdEnd || cdEnd-cdOff != cdSize {
		return nil, formatErr("the central directory (offset %d, %d bytes) does not end where the end record starts (%d)", cdOff, cdSize, cdEnd)
	}
	if cdSize < count*centralLen || cdSize > count*(centralLen+3*max16) {
		return nil, formatErr("the central directory size %d does not fit %d entries", cdSize, count)
	}
	// The end records are exactly those the writer writes for this central directory.
	want := endRecords(nil, count, cdSize, cdOff)
	got := make([]byte, min(uint64(size)-cdEnd, uint64(len(want))+1))
	if _, err := r.ReadAt(got, int64(cdEnd)); err != nil {
		return nil, fmt.Errorf("could not read the archive: %w", err)
	}
	if !bytes.Equal(got, want) {
		needed := len(want) > eocdLen
		switch {
		case zip64 && !needed:
			return nil, formatErr("the archive has a zip64 end record it does not need; bundles have one only when a field overflows the end record")
		case !zip64 && needed:
			return nil, formatErr("the end record's fields overflow but the archive has no zip64 end record")
		default:
			return nil, formatErr("the end records are not as Exhibit writes them (%s)", firstDiff(got, want))
		}
	}

	a := &archive{r: r, lim: lim, entries: make([]entry, 0, min(count, 1<<16))}
	br := bufio.NewReaderSize(io.NewSectionReader(r, int64(cdOff), int64(cdSize)), 64<<10)
	var fixed [centralLen]byte
	var total, next uint64 // next: where the writer would have put this entry's local header
	var rec leBuf
	var cdBuf []byte
	lay := layout{add: add}
	for i := uint64(0); i < count; i++ {
		if _, err := io.ReadFull(br, fixed[:]); err != nil {
			return nil, formatErr("central directory entry %d is truncated", i)
		}
		if le.Uint32(fixed[:]) != sigCentral {
			return nil, formatErr("central directory entry %d has a bad signature", i)
		}
		e := entry{
			flags:   le.Uint16(fixed[8:]),
			method:  le.Uint16(fixed[10:]),
			dosTime: le.Uint16(fixed[12:]),
			dosDate: le.Uint16(fixed[14:]),
			crc:     le.Uint32(fixed[16:]),
			comp:    uint64(le.Uint32(fixed[20:])),
			size:    uint64(le.Uint32(fixed[24:])),
			header:  uint64(le.Uint32(fixed[42:])),
		}
		madeBy := le.Uint16(fixed[4:]) >> 8
		nameLen, extraLen, commentLen := int(le.Uint16(fixed[28:])), int(le.Uint16(fixed[30:])), int(le.Uint16(fixed[32:]))
		diskStart, external := le.Uint16(fixed[34:]), le.Uint32(fixed[38:])
		if n := nameLen + extraLen + commentLen; cap(cdBuf) < n {
			cdBuf = make([]byte, n)
		}
		buf := cdBuf[:nameLen+extraLen+commentLen]
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, formatErr("central directory entry %d is truncated", i)
		}
		e.name = string(buf[:nameLen])
		if err := e.zip64(buf[nameLen : nameLen+extraLen]); err != nil {
			return nil, formatErr("entry %q: %v", printable(e.name), err)
		}
		if diskStart != 0 {
			return nil, formatErr("entry %q: multi-volume zip archives are not supported", printable(e.name))
		}
		e.dir = strings.HasSuffix(e.name, "/")
		a.checkEntry(&e, madeBy, external, commentLen, add)
		rec = centralRecord(rec[:0], e.zipHeader(), e.header, e.dosTime, e.dosDate)
		if string(rec[:centralLen]) != string(fixed[:]) || string(rec[centralLen:]) != string(buf) {
			lay.entry(e.name, "its central directory record is not as Exhibit writes it ("+firstDiff(append(fixed[:], buf...), rec)+")")
		}
		switch {
		case e.header == next:
		case i == 0:
			lay.archive(fmt.Sprintf("%d bytes before the first entry belong to no entry (prepended data)", e.header))
		case e.header > next:
			lay.archive(fmt.Sprintf("%d bytes at offset %d, before %q, belong to no entry (a hidden entry, a data descriptor or padding); bundles have none", e.header-next, next, printable(e.name)))
		default:
			lay.archive(fmt.Sprintf("the central directory lists %q out of archive order", printable(e.name)))
		}
		next = e.header + localHeaderLen(e.zipHeader()) + e.comp
		if total += e.size; total < e.size {
			total = ^uint64(0)
		}
		a.entries = append(a.entries, e)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, formatErr("the central directory has data after its %d entries", count)
	}
	if next != cdOff && count > 0 {
		lay.archive(fmt.Sprintf("%d bytes between the last entry's data and the central directory belong to no entry", int64(cdOff)-int64(next)))
	} else if count == 0 && cdOff != 0 {
		lay.archive(fmt.Sprintf("%d bytes before the central directory belong to no entry", cdOff))
	}
	if limit := min(uint64(lim.MaxTotalSize), uint64(lim.MaxRatio)*uint64(size)+ratioSlack); total > limit {
		add("", fmt.Sprintf("zip bomb: the entries declare %d bytes in total from an archive of %d bytes (limit %d)", total, size, limit))
		return nil, formatErr("refusing to read the archive: it declares too much data")
	}
	if err := a.checkLocalHeaders(cdOff, &lay); err != nil {
		return nil, err
	}
	lay.done()
	sort.Slice(a.entries, func(i, j int) bool { return a.entries[i].name < a.entries[j].name })
	return a, nil
}

// sameOrMarker reports whether a field of the end record agrees with the zip64 end record:
// it holds the value, or the overflow marker when the value does not fit (as endRecords
// writes it).
func sameOrMarker(field, value, marker uint64) bool {
	if value >= marker {
		return field == marker
	}
	return field == value
}

// firstDiff names the first byte where got differs from want.
func firstDiff(got, want []byte) string {
	for i := 0; i < len(got) && i < len(want); i++ {
		if got[i] != want[i] {
			return fmt.Sprintf("byte %d is 0x%02x, not 0x%02x", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("%d bytes, not %d", len(got), len(want))
}

// layout reports departures from the writer's layout: the first few in full, then a count,
// so an archive rewritten by another tool is refused without a problem per entry.
type layout struct {
	add  func(path, msg string)
	n    int
	more int
}

const layoutReported = 5

func (l *layout) entry(name, msg string) { l.report(printable(name), msg) }
func (l *layout) archive(msg string)     { l.report("", msg) }

func (l *layout) report(path, msg string) {
	if l.n >= layoutReported {
		l.more++
		return
	}
	l.n++
	l.add(path, msg)
}

func (l *layout) done() {
	if l.more > 0 {
		l.add("", fmt.Sprintf("%d more departures from the layout Exhibit writes", l.more))
	}
}

// zipHeader returns what the writer was given to write the entry.
func (e *entry) zipHeader() zipHeader {
	return zipHeader{name: e.name, method: e.method, crc: e.crc, comp: e.comp, size: e.size}
}

// findEOCD looks for an end record followed by a comment or garbage, to say why the archive
// is refused.
func findEOCD(r io.ReaderAt, size int64) int64 {
	n := min(size, eocdLen+max16)
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, size-n); err != nil {
		return -1
	}
	i := bytes.LastIndex(buf, []byte{0x50, 0x4b, 0x05, 0x06})
	if i < 0 {
		return -1
	}
	return size - n + int64(i)
}

// zip64 reads the zip64 extra field of a central directory record for the fields that
// overflowed.
func (e *entry) zip64(extra []byte) error {
	need := e.size == max32 || e.comp == max32 || e.header == max32
	le := binary.LittleEndian
	for len(extra) >= 4 {
		id, n := le.Uint16(extra), int(le.Uint16(extra[2:]))
		if len(extra) < 4+n {
			return errors.New("truncated extra field")
		}
		body := extra[4 : 4+n]
		extra = extra[4+n:]
		if id != zip64ExtraID {
			continue
		}
		for _, f := range []*uint64{&e.size, &e.comp, &e.header} {
			if *f != max32 {
				continue
			}
			if len(body) < 8 {
				return errors.New("truncated zip64 extra field")
			}
			*f = le.Uint64(body)
			body = body[8:]
		}
		need = false
	}
	if len(extra) != 0 {
		return errors.New("malformed extra field")
	}
	if need {
		return errors.New("sizes overflow 32 bits without a zip64 extra field")
	}
	return nil
}

// checkEntry reports what makes an entry unsafe or unreadable; content checks come later.
func (a *archive) checkEntry(e *entry, madeBy uint16, external uint32, commentLen int, add func(path, msg string)) {
	bad := func(msg string) { add(printable(e.name), msg) } // printable only for a problem
	if msg := unsafeName(e.name, a.lim); msg != "" {
		bad("unsafe entry name: " + msg)
	}
	if madeBy == creatorUnix {
		switch mode := external >> 16 & 0o170000; mode {
		case 0, 0o100000:
			if e.dir {
				bad("a directory name with a regular file's mode")
			}
		case 0o040000:
			if !e.dir {
				bad("a directory without a trailing slash")
			}
		case 0o120000:
			bad("a symbolic link; bundles hold regular files only")
		default:
			bad(fmt.Sprintf("a special file (mode %06o); bundles hold regular files only", mode))
		}
	}
	if commentLen != 0 {
		bad("the entry has a comment; bundles have none")
	}
	if e.flags&0x1 != 0 || e.flags&0x40 != 0 || e.flags&0x2000 != 0 {
		bad("the entry is encrypted")
	}
	switch e.method {
	case methodStore:
		if e.comp != e.size {
			bad(fmt.Sprintf("a stored entry whose sizes differ (%d compressed, %d uncompressed)", e.comp, e.size))
		}
	case methodDeflate:
		if e.size > uint64(a.lim.MaxRatio)*e.comp+ratioSlack {
			bad(fmt.Sprintf("zip bomb: %d compressed bytes declare %d uncompressed (ratio above %d)", e.comp, e.size, a.lim.MaxRatio))
		}
	default:
		bad(fmt.Sprintf("unsupported compression method %d (want stored or deflate)", e.method))
	}
	if e.size > uint64(a.lim.MaxEntrySize) {
		bad(fmt.Sprintf("the entry declares %d bytes, more than the limit of %d", e.size, a.lim.MaxEntrySize))
	}
	if e.dir && (e.size != 0 || e.comp != 0) {
		bad("a directory entry with content")
	}
}

// checkLocalHeaders reads each entry's local header, checks that it is the one the writer
// would write for the central directory record (a reader that trusts local headers must
// see the same name, sizes and data), finds the data, and checks that no two entries share
// bytes (overlapping entries are how a small archive expands to terabytes).
func (a *archive) checkLocalHeaders(cdOff uint64, lay *layout) error {
	sort.Slice(a.entries, func(i, j int) bool { return a.entries[i].header < a.entries[j].header })
	le := binary.LittleEndian
	var want leBuf
	// The headers are read through a window of the archive, one read for many entries.
	win := make([]byte, 0, min(cdOff, 1<<20))
	winOff := uint64(0)
	end := uint64(0)
	for i := range a.entries {
		e := &a.entries[i]
		if e.header < end {
			lay.add(printable(e.name), "the entry overlaps the previous entry's data")
			return formatErr("refusing to read the archive: entries overlap")
		}
		want = localHeader(want[:0], e.zipHeader(), e.header, e.dosTime, e.dosDate)
		if e.header+uint64(len(want)) > cdOff {
			return formatErr("entry %q: its local header lies outside the archive data", printable(e.name))
		}
		if e.header < winOff || e.header+uint64(len(want)) > winOff+uint64(len(win)) {
			winOff = e.header
			win = win[:max(min(uint64(cap(win)), cdOff-winOff), uint64(len(want)))]
			if _, err := a.r.ReadAt(win, int64(winOff)); err != nil {
				return fmt.Errorf("could not read the archive: %w", err)
			}
		}
		buf := win[e.header-winOff : e.header-winOff+uint64(len(want))]
		if le.Uint32(buf) != sigLocal {
			return formatErr("entry %q: no local header at offset %d", printable(e.name), e.header)
		}
		nameLen, extraLen := int(le.Uint16(buf[26:])), uint64(le.Uint16(buf[28:]))
		if !bytes.Equal(buf, want) {
			switch got := buf[localLen : localLen+min(nameLen, len(e.name))]; {
			case nameLen != len(e.name) || string(got) != e.name:
				lay.add(printable(e.name), fmt.Sprintf("the local header names %q; readers would disagree on the file's name", printable(string(got))))
			case le.Uint16(buf[6:])&0x8 != 0:
				lay.entry(e.name, "the local header announces a data descriptor; bundles have none (a streaming reader would take its sizes from it)")
			default:
				lay.entry(e.name, "the local header disagrees with the central directory or is not as Exhibit writes it ("+firstDiff(buf, want)+")")
			}
		}
		// Where a reader that follows the local header finds the data.
		e.data = e.header + localLen + uint64(nameLen) + extraLen
		if e.data > cdOff || cdOff-e.data < e.comp {
			return formatErr("entry %q: its data runs past the end of the archive data", printable(e.name))
		}
		end = e.data + e.comp
	}
	return nil
}

// open returns a reader of an entry's uncompressed bytes that fails, instead of returning
// io.EOF, if they are more or fewer than declared, their CRC-32 differs, or bytes follow the
// end of the compressed data. It never reads more than the declared size plus one byte.
func (a *archive) open(e *entry) io.ReadCloser {
	sr := io.NewSectionReader(a.r, int64(e.data), int64(e.comp))
	er := &entryReader{e: e, h: crc32.NewIEEE(), sr: sr}
	if e.method == methodDeflate {
		// flate reads a byte at a time from anything that is not an io.ByteReader through a
		// 4 KiB buffer: one pread per 4 KiB. A larger buffer makes it one per 64 KiB.
		br := readerPool.Get().(*bufio.Reader)
		br.Reset(sr)
		var fr io.ReadCloser
		if pooled, ok := flatePool.Get().(io.ReadCloser); ok {
			fr = pooled
			fr.(flate.Resetter).Reset(br, nil)
		} else {
			fr = flate.NewReader(br)
		}
		er.closer = fr
		er.buf = br
		er.deflate = true
		er.lr = io.LimitedReader{R: fr, N: int64(e.size) + 1}
	} else {
		er.lr = io.LimitedReader{R: sr, N: int64(e.size) + 1}
	}
	return er
}

// Pools of read buffers and decompressors: a bundle has hundreds of thousands of small
// entries, and a decompressor costs ~40 KiB to allocate.
var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}
	flatePool  sync.Pool
)

type entryReader struct {
	sr      *io.SectionReader // the compressed bytes in the archive, or
	mem     *bytes.Reader     // the compressed bytes in memory
	buf     *bufio.Reader     // sr's read buffer
	deflate bool
	e       *entry
	lr      io.LimitedReader
	closer  io.Closer
	h       hash.Hash32
	n       uint64
	err     error
}

func (r *entryReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.lr.Read(p)
	r.h.Write(p[:n])
	r.n += uint64(n)
	switch {
	case r.n > r.e.size:
		r.err = fmt.Errorf("it expands beyond its declared %d bytes", r.e.size)
		return 0, r.err
	case err == io.EOF && r.n != r.e.size:
		r.err = fmt.Errorf("it holds %d bytes, its header declares %d", r.n, r.e.size)
		return n, r.err
	case err == io.EOF && r.h.Sum32() != r.e.crc:
		r.err = errors.New("its CRC-32 does not match (corrupt archive)")
		return n, r.err
	case err == io.EOF && r.deflate && r.rest() > 0:
		// The deflate stream ended before the entry's compressed bytes: what follows it is
		// data no reader that stops at the end of the stream looks at, and a streaming reader
		// takes it for the next entry.
		r.err = fmt.Errorf("%d bytes follow the end of its compressed data", r.rest())
		return n, r.err
	case err == io.ErrUnexpectedEOF:
		r.err = fmt.Errorf("its compressed data is truncated after %d bytes", r.n)
		return n, r.err
	case err != nil && err != io.EOF:
		var ce flate.CorruptInputError
		if errors.As(err, &ce) {
			err = fmt.Errorf("its compressed data is corrupt: %v", err)
		}
		r.err = err
		return n, err
	}
	if err == io.EOF {
		r.err = io.EOF
	}
	return n, err
}

// rest returns how many of the entry's compressed bytes the decompressor has not read.
func (r *entryReader) rest() int64 {
	if r.mem != nil {
		return int64(r.mem.Len())
	}
	pos, _ := r.sr.Seek(0, io.SeekCurrent) // never fails on a SectionReader
	return r.sr.Size() - pos + int64(r.buf.Buffered())
}

func (r *entryReader) Close() error {
	var err error
	if r.closer != nil {
		err = r.closer.Close()
		flatePool.Put(r.closer)
		r.closer = nil
	}
	if r.buf != nil {
		r.buf.Reset(nil)
		readerPool.Put(r.buf)
		r.buf = nil
	}
	return err
}

// memHasher hashes entries whose compressed bytes are in memory, reusing its decompressor
// and buffers from one entry to the next: the per-entry cost of verifying a bundle of small
// files.
type memHasher struct {
	mem  bytes.Reader
	fr   io.ReadCloser
	er   entryReader
	crc  hash.Hash32
	sha  hash.Hash
	copy []byte
}

func newMemHasher() *memHasher {
	return &memHasher{crc: crc32.NewIEEE(), sha: sha256.New(), copy: make([]byte, 64<<10)}
}

// hash returns the SHA-256 of e's content, given its compressed bytes, with the checks of
// open.
func (m *memHasher) hash(e *entry, data []byte) (sum [32]byte, err error) {
	m.sha.Reset()
	if e.method != methodDeflate {
		switch {
		case uint64(len(data)) != e.size:
			return sum, fmt.Errorf("it holds %d bytes, its header declares %d", len(data), e.size)
		case crc32.ChecksumIEEE(data) != e.crc:
			return sum, errors.New("its CRC-32 does not match (corrupt archive)")
		}
		m.sha.Write(data)
		m.sha.Sum(sum[:0])
		return sum, nil
	}
	m.mem.Reset(data)
	if m.fr == nil {
		m.fr = flate.NewReader(&m.mem)
	} else if err := m.fr.(flate.Resetter).Reset(&m.mem, nil); err != nil {
		return sum, err
	}
	m.crc.Reset()
	m.er = entryReader{mem: &m.mem, deflate: true, e: e, h: m.crc, lr: io.LimitedReader{R: m.fr, N: int64(e.size) + 1}}
	if _, err := io.CopyBuffer(m.sha, &m.er, m.copy); err != nil {
		return sum, err
	}
	m.sha.Sum(sum[:0])
	return sum, nil
}

// lookup returns the entry named name, or nil.
func (a *archive) lookup(name string) *entry {
	i := a.search(name)
	if i < len(a.entries) && a.entries[i].name == name {
		return &a.entries[i]
	}
	return nil
}

// unsafeName says why an entry name must not be extracted or trusted, or "" if it is safe:
// printable ASCII, relative, '/'-separated, normalised (no empty, "." or ".." components),
// within the length and depth limits.
func unsafeName(name string, lim Limits) string {
	switch {
	case name == "":
		return "empty name"
	case len(name) > lim.MaxNameLength:
		return fmt.Sprintf("longer than %d bytes", lim.MaxNameLength)
	case strings.HasPrefix(name, "/"):
		return "absolute path"
	case strings.Contains(name, "\\"):
		return "contains a backslash (a path separator on Windows)"
	case strings.Contains(name, ":"):
		return "contains ':' (a drive letter or stream on Windows)"
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c >= 0x7f {
			return "contains a control or non-ASCII character"
		}
	}
	rest := strings.TrimSuffix(name, "/")
	if strings.Count(rest, "/")+1 > lim.MaxDepth {
		return fmt.Sprintf("deeper than %d levels", lim.MaxDepth)
	}
	for rest != "" {
		var p string
		p, rest, _ = strings.Cut(rest, "/")
		switch p {
		case "..":
			return "path traversal ('..')"
		case ".", "":
			return "not normalised (empty or '.' component)"
		}
		if msg := windowsName(p); msg != "" {
			return msg
		}
	}
	return ""
}

// windowsName says why a path component would be extracted on Windows as something other
// than a file of that name, or "": Windows drops a trailing dot or space (so "a.json." is
// written over "a.json"), reserves device names whatever their extension ("CON",
// "aux.txt" open a device), and refuses a few characters in names.
func windowsName(p string) string {
	switch last := p[len(p)-1]; {
	case last == '.' || last == ' ':
		return "ends in a dot or a space (Windows drops it, naming another file)"
	case strings.ContainsAny(p, `<>"|?*`):
		return `contains a character Windows does not allow in names (< > " | ? *)`
	}
	base, _, _ := strings.Cut(p, ".")
	base = strings.TrimRight(base, " ")
	if len(base) < 3 || len(base) > 7 {
		return ""
	}
	numbered := len(base) == 4 && base[3] >= '0' && base[3] <= '9' &&
		(strings.EqualFold(base[:3], "COM") || strings.EqualFold(base[:3], "LPT"))
	for _, d := range windowsDevices {
		if numbered || strings.EqualFold(base, d) {
			return fmt.Sprintf("%q is a Windows device name (extracting it would open the device)", p)
		}
	}
	return ""
}

// windowsDevices are the reserved names, with COM0–COM9 and LPT0–LPT9.
var windowsDevices = []string{"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}

// printable quotes nothing but replaces bytes that would garble a terminal.
func printable(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return '?'
		}
		return r
	}, s)
}
