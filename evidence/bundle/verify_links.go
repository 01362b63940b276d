package bundle

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/exhibit-dev/exhibit/evidence"
)

// maxLinkDepth bounds the nesting of a JSON report (the walk recurses per level).
const maxLinkDepth = 64

// linkWalker walks a JSON report (OSCAL assessment results) as a stream, so its size does
// not matter, and calls href with every string under a key "href" (also in arrays under
// it) and rlink with every element of an array under a key "rlinks". It is a hand-written
// parser rather than a json.Decoder.Token walk, which allocated per token and was the most
// expensive of the report checks; FuzzLinkWalker compares the two.
type linkWalker struct {
	br    *bufio.Reader
	href  func(string)
	rlink func(rlink)
	buf   []byte
}

// walkLinks reads one JSON value from r (and nothing after it but white space).
func walkLinks(r io.Reader, href func(string), rlink func(rlink)) error {
	w := &linkWalker{br: bufio.NewReaderSize(r, 64<<10), href: href, rlink: rlink}
	c, err := w.nonSpace()
	if err != nil {
		return w.eof(err)
	}
	if err := w.value(c, "", 0); err != nil {
		return err
	}
	if _, err := w.nonSpace(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the JSON value")
		}
		return err
	}
	return nil
}

// value reads the value that starts with c (already read), found under key.
func (w *linkWalker) value(c byte, key string, depth int) error {
	if depth > maxLinkDepth {
		return errors.New("nested too deeply")
	}
	switch c {
	case '{':
		return w.object(depth)
	case '[':
		return w.array(key, depth)
	case '"':
		s, err := w.str()
		if err != nil {
			return err
		}
		if key == "href" {
			w.href(s)
		}
		return nil
	default:
		return w.scalar(c)
	}
}

func (w *linkWalker) object(depth int) error {
	c, err := w.nonSpace()
	if err != nil {
		return w.eof(err)
	}
	if c == '}' {
		return nil
	}
	for {
		if c != '"' {
			return syntaxErr(c, "looking for the beginning of an object key")
		}
		k, err := w.str()
		if err != nil {
			return err
		}
		if c, err = w.nonSpace(); err != nil {
			return w.eof(err)
		}
		if c != ':' {
			return syntaxErr(c, "after an object key")
		}
		if c, err = w.nonSpace(); err != nil {
			return w.eof(err)
		}
		if err := w.value(c, k, depth+1); err != nil {
			return err
		}
		if c, err = w.nonSpace(); err != nil {
			return w.eof(err)
		}
		switch c {
		case ',':
			if c, err = w.nonSpace(); err != nil {
				return w.eof(err)
			}
		case '}':
			return nil
		default:
			return syntaxErr(c, "after an object value")
		}
	}
}

func (w *linkWalker) array(key string, depth int) error {
	c, err := w.nonSpace()
	if err != nil {
		return w.eof(err)
	}
	if c == ']' {
		return nil
	}
	for {
		if key == "rlinks" {
			// Decoded whole, leniently, as json.Decoder.Decode did.
			if err := w.capture(c); err != nil {
				return err
			}
			var l rlink
			if err := json.Unmarshal(w.buf, &l); err != nil {
				return err
			}
			w.rlink(l)
		} else if err := w.value(c, key, depth+1); err != nil {
			return err
		}
		if c, err = w.nonSpace(); err != nil {
			return w.eof(err)
		}
		switch c {
		case ',':
			if c, err = w.nonSpace(); err != nil {
				return w.eof(err)
			}
		case ']':
			return nil
		default:
			return syntaxErr(c, "after an array element")
		}
	}
}

// str reads a string whose opening quote has been read and returns it unescaped as
// encoding/json would.
func (w *linkWalker) str() (string, error) {
	w.buf = append(w.buf[:0], '"')
	plain := true
	for {
		b, err := w.br.ReadByte()
		if err != nil {
			return "", w.eof(err)
		}
		switch {
		case b == '"':
			w.buf = append(w.buf, b)
			raw := w.buf[1 : len(w.buf)-1]
			if plain && utf8.Valid(raw) {
				return string(raw), nil
			}
			var s string
			if err := json.Unmarshal(w.buf, &s); err != nil {
				return "", err
			}
			return s, nil
		case b == '\\':
			plain = false
			w.buf = append(w.buf, b)
			if b, err = w.br.ReadByte(); err != nil {
				return "", w.eof(err)
			}
		case b < 0x20:
			return "", syntaxErr(b, "in a string (control characters must be escaped)")
		}
		w.buf = append(w.buf, b)
		if len(w.buf) > maxArtefactJSON {
			return "", fmt.Errorf("a string is longer than %d bytes", maxArtefactJSON)
		}
	}
}

// scalar reads a number or literal starting with c, up to the next delimiter.
func (w *linkWalker) scalar(c byte) error {
	w.buf = append(w.buf[:0], c)
	for {
		b, err := w.br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if isDelimiter(b) {
			w.br.UnreadByte()
			break
		}
		w.buf = append(w.buf, b)
		if len(w.buf) > maxArtefactJSON {
			return fmt.Errorf("invalid JSON value %q", truncate(string(w.buf), 20))
		}
	}
	if !json.Valid(w.buf) {
		return fmt.Errorf("invalid JSON value %q", truncate(string(w.buf), 20))
	}
	return nil
}

// capture reads the value starting with c (already read) into w.buf.
func (w *linkWalker) capture(c byte) error {
	w.buf = append(w.buf[:0], c)
	if c != '{' && c != '[' && c != '"' {
		for {
			b, err := w.br.ReadByte()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if isDelimiter(b) {
				return w.br.UnreadByte()
			}
			w.buf = append(w.buf, b)
			if len(w.buf) > maxArtefactJSON {
				return fmt.Errorf("invalid JSON value %q", truncate(string(w.buf), 20))
			}
		}
	}
	depth, inStr, esc := 0, c == '"', false
	if !inStr {
		depth = 1
	}
	for {
		b, err := w.br.ReadByte()
		if err != nil {
			return w.eof(err)
		}
		w.buf = append(w.buf, b)
		switch {
		case inStr && esc:
			esc = false
		case inStr && b == '\\':
			esc = true
		case inStr && b == '"':
			inStr = false
			if depth == 0 {
				return nil
			}
		case inStr:
		case b == '"':
			inStr = true
		case b == '{' || b == '[':
			depth++
		case b == '}' || b == ']':
			if depth--; depth == 0 {
				return nil
			}
		}
		if len(w.buf) > maxArtefactJSON {
			return fmt.Errorf("an rlinks element is longer than %d bytes", maxArtefactJSON)
		}
	}
}

func isDelimiter(b byte) bool {
	switch b {
	case ',', ']', '}', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// nonSpace reads past white space and returns the next byte.
func (w *linkWalker) nonSpace() (byte, error) { return evidence.NextNonSpace(w.br) }

// eof turns the end of the input inside a value into io.ErrUnexpectedEOF.
func (w *linkWalker) eof(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func syntaxErr(c byte, where string) error {
	return fmt.Errorf("invalid character %q %s", c, where)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
