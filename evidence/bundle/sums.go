package bundle

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// sumLine is one line of SHA256SUMS.
type sumLine struct {
	path string
	sum  [32]byte
}

// appendSumLine appends "<hex>  <path>\n", the GNU coreutils text-mode format that
// `sha256sum -c --strict` and `shasum -a 256 -c` read. Paths never need GNU's backslash
// escaping: names are checked to be printable ASCII without backslashes.
func appendSumLine(b []byte, sum [32]byte, path string) []byte {
	b = hex.AppendEncode(b, sum[:])
	b = append(b, ' ', ' ')
	b = append(b, path...)
	return append(b, '\n')
}

// sumsReader parses SHA256SUMS strictly: every line "<64 lower-case hex>  <path>\n", paths
// safe and relative, sorted in byte order without duplicates. It reads one line at a time.
type sumsReader struct {
	br   *bufio.Reader
	lim  Limits
	line int
	prev string
}

func newSumsReader(r io.Reader, lim Limits) *sumsReader {
	return &sumsReader{br: bufio.NewReaderSize(r, 64<<10), lim: lim}
}

// next returns the next line, io.EOF at the end, or an error naming the line.
func (s *sumsReader) next() (sumLine, error) {
	raw, err := s.br.ReadSlice('\n')
	if err == io.EOF && len(raw) == 0 {
		return sumLine{}, io.EOF
	}
	s.line++
	if err == bufio.ErrBufferFull {
		return sumLine{}, fmt.Errorf("SHA256SUMS line %d is longer than %d bytes", s.line, s.br.Size())
	}
	if err == io.EOF {
		return sumLine{}, fmt.Errorf("SHA256SUMS line %d is not terminated by a newline", s.line)
	}
	if err != nil {
		return sumLine{}, err
	}
	text := string(raw[:len(raw)-1])
	hexPart, path, ok := strings.Cut(text, "  ")
	if !ok || len(hexPart) != 64 {
		return sumLine{}, fmt.Errorf("SHA256SUMS line %d is not \"<sha256 hex>  <path>\"", s.line)
	}
	var l sumLine
	if strings.ToLower(hexPart) != hexPart {
		return sumLine{}, fmt.Errorf("SHA256SUMS line %d: the hash is not lower-case hex", s.line)
	}
	if _, err := hex.Decode(l.sum[:], []byte(hexPart)); err != nil {
		return sumLine{}, fmt.Errorf("SHA256SUMS line %d: the hash is not hex", s.line)
	}
	if msg := unsafeName(path, s.lim); msg != "" {
		return sumLine{}, fmt.Errorf("SHA256SUMS line %d names %q, which points outside the bundle folder or is not a plain path: %s", s.line, printable(path), msg)
	}
	if strings.HasSuffix(path, "/") {
		return sumLine{}, fmt.Errorf("SHA256SUMS line %d names a directory %q", s.line, printable(path))
	}
	if unsigned[path] {
		return sumLine{}, fmt.Errorf("SHA256SUMS line %d lists %s, which it cannot cover", s.line, path)
	}
	if s.line > 1 && path <= s.prev {
		if path == s.prev {
			return sumLine{}, fmt.Errorf("SHA256SUMS lists %q twice (line %d)", printable(path), s.line)
		}
		return sumLine{}, fmt.Errorf("SHA256SUMS is not sorted: line %d (%q) comes after %q", s.line, printable(path), printable(s.prev))
	}
	s.prev = path
	l.path = path
	return l, nil
}
