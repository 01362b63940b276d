package bundle

// Limits bound what the reader accepts, so a hostile archive can cost neither unbounded
// memory nor unbounded time: every limit is checked on the sizes the archive declares before
// any content is read, and again on the bytes actually read.
type Limits struct {
	// MaxEntries bounds the number of entries in the central directory. The reader keeps
	// one small record per entry (~150 bytes) and an index of them (~50 bytes), so this
	// bounds its memory.
	MaxEntries int
	// MaxNameLength bounds an entry name in bytes; MaxDepth its number of path components.
	MaxNameLength int
	MaxDepth      int
	// MaxEntrySize bounds one entry's uncompressed size.
	MaxEntrySize int64
	// MaxTotalSize bounds the sum of all uncompressed sizes.
	MaxTotalSize int64
	// MaxRatio bounds the expansion of a compressed entry (uncompressed / compressed) and of
	// the whole archive (total uncompressed / archive size). Deflate can reach ~1032:1;
	// evidence JSON compresses 5–30:1 and the writer stores entries that would exceed
	// MaxRatio/2 uncompressed, so a legitimate bundle never comes near it.
	MaxRatio int64
	// MaxMetadataSize bounds the files the verifier parses in memory: SHA256SUMS signatures,
	// keys, and the header of manifest.json (its artefact list is streamed).
	MaxMetadataSize int64
	// MaxProblems bounds the problems a report keeps; the rest are counted.
	MaxProblems int
}

// DefaultLimits are generous for real bundles (a year of nightly runs over 100,000
// artefacts is a few hundred thousand entries) and tight for bombs.
var DefaultLimits = Limits{
	MaxEntries:      1_000_000,
	MaxNameLength:   512,
	MaxDepth:        6,
	MaxEntrySize:    8 << 30,
	MaxTotalSize:    1 << 40,
	MaxRatio:        200,
	MaxMetadataSize: 16 << 20,
	MaxProblems:     1000,
}

// ratioSlack lets tiny entries compress better than MaxRatio (a 1 MiB run of spaces is
// harmless), while the total stays bounded by MaxRatio × archive size.
const ratioSlack = 1 << 20

func (l Limits) orDefault() Limits {
	d := DefaultLimits
	if l.MaxEntries > 0 {
		d.MaxEntries = l.MaxEntries
	}
	if l.MaxNameLength > 0 {
		d.MaxNameLength = l.MaxNameLength
	}
	if l.MaxDepth > 0 {
		d.MaxDepth = l.MaxDepth
	}
	if l.MaxEntrySize > 0 {
		d.MaxEntrySize = l.MaxEntrySize
	}
	if l.MaxTotalSize > 0 {
		d.MaxTotalSize = l.MaxTotalSize
	}
	if l.MaxRatio > 0 {
		d.MaxRatio = l.MaxRatio
	}
	if l.MaxMetadataSize > 0 {
		d.MaxMetadataSize = l.MaxMetadataSize
	}
	if l.MaxProblems > 0 {
		d.MaxProblems = l.MaxProblems
	}
	return d
}
