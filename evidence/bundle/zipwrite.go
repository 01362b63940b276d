package bundle

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"time"
)

// Zip format constants (APPNOTE.TXT 6.3.x).
const (
	sigLocal      = 0x04034b50
	sigCentral    = 0x02014b50
	sigEOCD       = 0x06054b50
	sigEOCD64     = 0x06064b50
	sigLocator64  = 0x07064b50
	localLen      = 30
	centralLen    = 46
	eocdLen       = 22
	eocd64Len     = 56
	locator64Len  = 20
	zip64ExtraID  = 0x0001
	max16         = 0xffff
	max32         = 0xffffffff
	methodStore   = 0
	methodDeflate = 8
	creatorUnix   = 3
	modeRegular   = 0o100644
)

// zipWriter writes a zip archive sequentially. Unlike archive/zip it keeps no per-entry
// state in memory: central directory records are spooled to a temporary file and copied
// after the last entry, so an archive of a million entries costs the same memory as one of
// ten. Entries are always written with their CRC and sizes in the local header (no data
// descriptors): the caller compresses first, then writes.
type zipWriter struct {
	out     *bufio.Writer
	off     uint64
	cd      *os.File
	cdw     *bufio.Writer
	cdSize  uint64
	n       uint64
	dosTime uint16
	dosDate uint16
}

// zipHeader describes one entry to write.
type zipHeader struct {
	name   string
	method uint16
	crc    uint32
	comp   uint64 // bytes of data that follow the header
	size   uint64 // uncompressed size
}

func newZipWriter(w io.Writer, tmpDir string, modified time.Time) (*zipWriter, error) {
	cd, err := os.CreateTemp(tmpDir, "exhibit-bundle-cd-*")
	if err != nil {
		return nil, fmt.Errorf("could not create the central directory spool: %w", err)
	}
	t := modified.UTC()
	if t.Year() < 1980 {
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return &zipWriter{
		out:     bufio.NewWriterSize(w, 1<<20),
		cd:      cd,
		cdw:     bufio.NewWriterSize(cd, 256<<10),
		dosTime: uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()>>1),
		dosDate: uint16((t.Year()-1980)<<9 | int(t.Month())<<5 | t.Day()),
	}, nil
}

type leBuf []byte

func (b *leBuf) u16(v uint16) { *b = binary.LittleEndian.AppendUint16(*b, v) }
func (b *leBuf) u32(v uint32) { *b = binary.LittleEndian.AppendUint32(*b, v) }
func (b *leBuf) u64(v uint64) { *b = binary.LittleEndian.AppendUint64(*b, v) }

// add writes one entry; data must yield exactly h.comp bytes.
func (z *zipWriter) add(h zipHeader, data io.Reader) error {
	if len(h.name) > max16 {
		return fmt.Errorf("zip entry name is too long: %d bytes", len(h.name))
	}
	offset := z.off
	hdr := localHeader(nil, h, offset, z.dosTime, z.dosDate)
	if _, err := z.out.Write(hdr); err != nil {
		return err
	}
	n, err := io.Copy(z.out, data)
	if err != nil {
		return err
	}
	if uint64(n) != h.comp {
		return fmt.Errorf("zip entry %s: wrote %d bytes, expected %d", h.name, n, h.comp)
	}
	z.off += uint64(len(hdr)) + h.comp
	rec := centralRecord(nil, h, offset, z.dosTime, z.dosDate)
	if _, err := z.cdw.Write(rec); err != nil {
		return fmt.Errorf("could not spool the central directory: %w", err)
	}
	z.cdSize += uint64(len(rec))
	z.n++
	return nil
}

// The three encoders below are the whole of the archive's structure: the reader encodes
// what it parsed again with them and refuses any byte that differs, so an archive verifies
// only if it is laid out exactly as this writer lays it out (see readArchive).

// localHeader appends the local header of an entry written at offset. Sizes and CRC are
// always in the header (no data descriptor); entries of 4 GiB or more carry both sizes in a
// zip64 extra field.
func localHeader(b leBuf, h zipHeader, offset uint64, dosTime, dosDate uint16) leBuf {
	big := h.comp >= max32 || h.size >= max32
	version := uint16(20)
	if big || offset >= max32 {
		version = 45
	}
	b.u32(sigLocal)
	b.u16(version)
	b.u16(0) // flags: no encryption, no data descriptor, names are ASCII
	b.u16(h.method)
	b.u16(dosTime)
	b.u16(dosDate)
	b.u32(h.crc)
	if big {
		b.u32(max32)
		b.u32(max32)
	} else {
		b.u32(uint32(h.comp))
		b.u32(uint32(h.size))
	}
	b.u16(uint16(len(h.name)))
	if big {
		b.u16(20)
	} else {
		b.u16(0)
	}
	b = append(b, h.name...)
	if big {
		b.u16(zip64ExtraID)
		b.u16(16)
		b.u64(h.size)
		b.u64(h.comp)
	}
	return b
}

// localHeaderLen is len(localHeader(…)).
func localHeaderLen(h zipHeader) uint64 {
	if h.comp >= max32 || h.size >= max32 {
		return localLen + uint64(len(h.name)) + 20
	}
	return localLen + uint64(len(h.name))
}

// centralRecord appends the central directory record of an entry written at offset. Its
// zip64 extra field holds the fields that overflow, in APPNOTE order.
func centralRecord(b leBuf, h zipHeader, offset uint64, dosTime, dosDate uint16) leBuf {
	big := h.comp >= max32 || h.size >= max32
	version := uint16(20)
	if big || offset >= max32 {
		version = 45
	}
	var cx leBuf
	size32, comp32, off32 := uint32(h.size), uint32(h.comp), uint32(offset)
	if h.size >= max32 || h.comp >= max32 || offset >= max32 {
		var body leBuf
		if h.size >= max32 {
			body.u64(h.size)
			size32 = max32
		}
		if h.comp >= max32 {
			body.u64(h.comp)
			comp32 = max32
		}
		if offset >= max32 {
			body.u64(offset)
			off32 = max32
		}
		cx.u16(zip64ExtraID)
		cx.u16(uint16(len(body)))
		cx = append(cx, body...)
	}
	b.u32(sigCentral)
	b.u16(creatorUnix<<8 | version)
	b.u16(version)
	b.u16(0)
	b.u16(h.method)
	b.u16(dosTime)
	b.u16(dosDate)
	b.u32(h.crc)
	b.u32(comp32)
	b.u32(size32)
	b.u16(uint16(len(h.name)))
	b.u16(uint16(len(cx)))
	b.u16(0) // comment
	b.u16(0) // disk
	b.u16(0) // internal attributes
	b.u32(modeRegular << 16)
	b.u32(off32)
	b = append(b, h.name...)
	return append(b, cx...)
}

// endRecords appends what follows a central directory of n records and cdSize bytes at
// cdOffset: the zip64 end record and its locator when a field overflows the end record,
// then the end record, without a comment.
func endRecords(b leBuf, n, cdSize, cdOffset uint64) leBuf {
	if n >= max16 || cdSize >= max32 || cdOffset >= max32 {
		eocd64Off := cdOffset + cdSize
		b.u32(sigEOCD64)
		b.u64(eocd64Len - 12)
		b.u16(creatorUnix<<8 | 45)
		b.u16(45)
		b.u32(0)
		b.u32(0)
		b.u64(n)
		b.u64(n)
		b.u64(cdSize)
		b.u64(cdOffset)
		b.u32(sigLocator64)
		b.u32(0)
		b.u64(eocd64Off)
		b.u32(1)
	}
	b.u32(sigEOCD)
	b.u16(0)
	b.u16(0)
	b.u16(uint16(min(n, max16)))
	b.u16(uint16(min(n, max16)))
	b.u32(uint32(min(cdSize, max32)))
	b.u32(uint32(min(cdOffset, max32)))
	b.u16(0) // no comment: the reader refuses trailing bytes
	return b
}

// close writes the central directory and end records and flushes; it does not close the
// underlying writer. It always removes the spool.
func (z *zipWriter) close() error {
	defer z.discard()
	if err := z.cdw.Flush(); err != nil {
		return fmt.Errorf("could not spool the central directory: %w", err)
	}
	if _, err := z.cd.Seek(0, io.SeekStart); err != nil {
		return err
	}
	cdOffset := z.off
	if n, err := io.Copy(z.out, z.cd); err != nil {
		return err
	} else if uint64(n) != z.cdSize {
		return fmt.Errorf("central directory spool holds %d bytes, expected %d", n, z.cdSize)
	}
	z.off += z.cdSize
	end := endRecords(nil, z.n, z.cdSize, cdOffset)
	if _, err := z.out.Write(end); err != nil {
		return err
	}
	z.off += uint64(len(end))
	return z.out.Flush()
}

func (z *zipWriter) discard() {
	if z.cd != nil {
		name := z.cd.Name()
		z.cd.Close()
		os.Remove(name)
		z.cd = nil
	}
}
