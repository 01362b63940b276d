package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// DecodeStrict decodes one JSON value from data into v. Unlike encoding/json it rejects
// unknown fields, duplicate object keys at any depth and trailing data, because an evidence
// reader that tolerates them lets two parties read different things from the same bytes.
func DecodeStrict(data []byte, v any) error {
	if err := CheckDuplicateKeys(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// CheckDuplicateKeys reports the first object key that appears twice in the same object.
func CheckDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := checkValue(dec, ""); err != nil {
		if errors.Is(err, io.EOF) {
			// The tokenizer reports a value cut short as a plain EOF.
			return fmt.Errorf("truncated JSON: %w", io.ErrUnexpectedEOF)
		}
		return err
	}
	return nil
}

func checkValue(dec *json.Decoder, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch delim {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key, ok := kt.(string)
			if !ok {
				return fmt.Errorf("invalid object key at %s", orRoot(path))
			}
			if seen[key] {
				return fmt.Errorf("duplicate key %q at %s", key, orRoot(path))
			}
			seen[key] = true
			if err := checkValue(dec, path+"."+key); err != nil {
				return err
			}
		}
	case '[':
		for i := 0; dec.More(); i++ {
			if err := checkValue(dec, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // closing delimiter
	return err
}

func orRoot(path string) string {
	if path == "" {
		return "$"
	}
	return "$" + path
}
