package evidence

import (
	"bufio"
	"fmt"
	"io"
)

// ArrayReader splits a JSON array read from a stream into the bytes of its elements, so a
// run manifest's envelopes (or a bundle manifest's artefacts) can be decoded one at a time
// with DecodeStrict, in bounded memory. It only delimits the elements (strings, escapes,
// nesting) and checks the commas and the closing bracket between them: the element itself
// is validated by whoever decodes it, and DecodeStrict rejects anything that is not exactly
// one well-formed value. Splitting this way costs a fraction of json.Decoder.Decode into a
// json.RawMessage, which scans every value twice and copies it.
type ArrayReader struct {
	br   *bufio.Reader
	max  int
	buf  []byte
	n    int // elements returned
	done bool
	err  error
}

// NewArrayReader reads the elements of the array whose opening bracket has just been read
// from r. Elements longer than maxElement bytes are an error (0: no limit).
func NewArrayReader(r io.Reader, maxElement int) *ArrayReader {
	return &ArrayReader{br: bufio.NewReaderSize(r, 64<<10), max: maxElement}
}

// Next returns the bytes of the next element, valid until the next call, or io.EOF once the
// closing bracket has been read. Input that ends early wraps io.ErrUnexpectedEOF. After an
// error, Next returns it again.
func (a *ArrayReader) Next() ([]byte, error) {
	if a.err != nil {
		return nil, a.err
	}
	if a.done {
		return nil, io.EOF
	}
	elem, err := a.next()
	if err != nil && err != io.EOF {
		a.err = err
	}
	return elem, err
}

// Rest returns a reader of the input after the closing bracket (after Next returned io.EOF).
func (a *ArrayReader) Rest() io.Reader { return a.br }

func (a *ArrayReader) next() ([]byte, error) {
	c, err := a.peekNonSpace()
	if err != nil {
		return nil, err
	}
	if a.n > 0 {
		switch c {
		case ',':
			a.br.Discard(1)
			if c, err = a.peekNonSpace(); err != nil {
				return nil, err
			}
		case ']':
			a.br.Discard(1)
			a.done = true
			return nil, io.EOF
		default:
			return nil, a.syntax(c, "after an array element")
		}
	} else if c == ']' {
		a.br.Discard(1)
		a.done = true
		return nil, io.EOF
	}
	if c == ']' || c == ',' {
		return nil, a.syntax(c, "looking for the beginning of an array element")
	}
	a.n++
	return a.element(c)
}

// peekNonSpace skips white space and returns the next byte without consuming it.
func (a *ArrayReader) peekNonSpace() (byte, error) {
	for {
		b, err := a.br.Peek(1)
		if err != nil {
			if err == io.EOF {
				return 0, errTruncated
			}
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\n', '\r':
			a.br.Discard(1)
		default:
			return b[0], nil
		}
	}
}

// element reads one element starting with byte first: an object, array or string up to
// its end, anything else (a number or literal, checked later) up to the next delimiter.
func (a *ArrayReader) element(first byte) ([]byte, error) {
	a.buf = a.buf[:0]
	scalar := first != '{' && first != '[' && first != '"'
	depth, inStr, esc := 0, false, false
	for {
		if a.br.Buffered() == 0 {
			if _, err := a.br.Peek(1); err != nil {
				if err == io.EOF {
					if scalar && len(a.buf) > 0 {
						return a.buf, nil // the missing bracket is reported next time
					}
					return nil, errTruncated
				}
				return nil, err
			}
		}
		chunk, _ := a.br.Peek(a.br.Buffered())
		end := -1
	scan:
		for i, b := range chunk {
			switch {
			case scalar:
				switch b {
				case ',', ']', '}', ' ', '\t', '\n', '\r':
					end = i
					break scan
				}
			case inStr:
				switch {
				case esc:
					esc = false
				case b == '\\':
					esc = true
				case b == '"':
					inStr = false
					if depth == 0 {
						end = i + 1
						break scan
					}
				}
			default:
				switch b {
				case '"':
					inStr = true
				case '{', '[':
					depth++
				case '}', ']':
					depth--
					if depth == 0 {
						end = i + 1
						break scan
					}
				}
			}
		}
		take := len(chunk)
		if end >= 0 {
			take = end
		}
		if end == 0 && len(a.buf) == 0 {
			return nil, a.syntax(first, "looking for the beginning of an array element")
		}
		if a.max > 0 && len(a.buf)+take > a.max {
			return nil, fmt.Errorf("an array element is longer than %d bytes", a.max)
		}
		a.buf = append(a.buf, chunk[:take]...)
		a.br.Discard(take)
		if end >= 0 {
			return a.buf, nil
		}
	}
}

func (a *ArrayReader) syntax(c byte, where string) error {
	return fmt.Errorf("invalid JSON: invalid character %s %s", quoteChar(c), where)
}

// NextNonSpace reads past JSON white space and returns the next byte: for readers of the
// streamed formats (run manifests, bundle manifests) that check what surrounds an array.
func NextNonSpace(r io.ByteReader) (byte, error) {
	for {
		c, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return c, nil
		}
	}
}
