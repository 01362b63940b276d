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
	big := h.comp >= max32 || h.size >= max32
	version := uint16(20)
	if big || offset >= max32 {
		version = 45
	}
	hdr := make(leBuf, 0, localLen+len(h.name)+20)
	hdr.u32(sigLocal)
	hdr.u16(version)
	hdr.u16(0) // flags: no encryption, no data descriptor, names are ASCII
	hdr.u16(h.method)
	hdr.u16(z.dosTime)
	hdr.u16(z.dosDate)
	hdr.u32(h.crc)
	var extra leBuf
	if big {
		hdr.u32(max32)
		hdr.u32(max32)
		extra.u16(zip64ExtraID)
		extra.u16(16)
		extra.u64(h.size)
		extra.u64(h.comp)
	} else {
		hdr.u32(uint32(h.comp))
		hdr.u32(uint32(h.size))
	}
	hdr.u16(uint16(len(h.name)))
	hdr.u16(uint16(len(extra)))
	hdr = append(hdr, h.name...)
	hdr = append(hdr, extra...)
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

	// The central directory record names the zip64 fields that overflow, in APPNOTE order.
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
	rec := make(leBuf, 0, centralLen+len(h.name)+len(cx))
	rec.u32(sigCentral)
	rec.u16(creatorUnix<<8 | version)
	rec.u16(version)
	rec.u16(0)
	rec.u16(h.method)
	rec.u16(z.dosTime)
	rec.u16(z.dosDate)
	rec.u32(h.crc)
	rec.u32(comp32)
	rec.u32(size32)
	rec.u16(uint16(len(h.name)))
	rec.u16(uint16(len(cx)))
	rec.u16(0) // comment
	rec.u16(0) // disk
	rec.u16(0) // internal attributes
	rec.u32(modeRegular << 16)
	rec.u32(off32)
	rec = append(rec, h.name...)
	rec = append(rec, cx...)
	if _, err := z.cdw.Write(rec); err != nil {
		return fmt.Errorf("could not spool the central directory: %w", err)
	}
	z.cdSize += uint64(len(rec))
	z.n++
	return nil
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
	var end leBuf
	zip64 := z.n >= max16 || z.cdSize >= max32 || cdOffset >= max32
	if zip64 {
		eocd64Off := z.off
		end.u32(sigEOCD64)
		end.u64(eocd64Len - 12)
		end.u16(creatorUnix<<8 | 45)
		end.u16(45)
		end.u32(0)
		end.u32(0)
		end.u64(z.n)
		end.u64(z.n)
		end.u64(z.cdSize)
		end.u64(cdOffset)
		end.u32(sigLocator64)
		end.u32(0)
		end.u64(eocd64Off)
		end.u32(1)
	}
	end.u32(sigEOCD)
	end.u16(0)
	end.u16(0)
	end.u16(uint16(min(z.n, max16)))
	end.u16(uint16(min(z.n, max16)))
	end.u32(uint32(min(z.cdSize, max32)))
	end.u32(uint32(min(cdOffset, max32)))
	end.u16(0) // no comment: the reader refuses trailing bytes
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
