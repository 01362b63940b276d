package bundle

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/exhibit-dev/exhibit/evidence"
)

// This file keeps the first, json.Decoder-based reader of manifest.json as the reference
// the fuzz tests compare readManifest (what the verifier uses) against.

// decodeManifest is the reference reader: it reads manifest.json strictly (unknown, duplicate and missing keys are
// errors, "artefacts" must be last), calls onHeader (if not nil) with the header and then fn
// with each artefact in order. Memory is
// bounded by maxHeader for the header and maxArtefactJSON per artefact.
func decodeManifest(r io.Reader, maxHeader int64, onHeader func(Manifest) error, fn func(Artefact) error) (Manifest, error) {
	lr := &capReader{r: r, max: maxHeader}
	dec := json.NewDecoder(lr)
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return Manifest{}, fmt.Errorf("%s is not a JSON object", ManifestFile)
	}
	fields := map[string]json.RawMessage{}
	for {
		if !dec.More() {
			return Manifest{}, fmt.Errorf("%s has no \"artefacts\" list after its header", ManifestFile)
		}
		tok, err := dec.Token()
		if err != nil {
			return Manifest{}, fmt.Errorf("%s: %w", ManifestFile, err)
		}
		key, _ := tok.(string)
		if _, dup := fields[key]; dup {
			return Manifest{}, fmt.Errorf("%s: duplicate key %q", ManifestFile, key)
		}
		if key == "artefacts" {
			break
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return Manifest{}, fmt.Errorf("%s: key %q: %w", ManifestFile, key, err)
		}
		fields[key] = raw
	}
	var missing []string
	for _, k := range manifestKeys {
		if _, ok := fields[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return Manifest{}, fmt.Errorf("%s lacks %s", ManifestFile, strings.Join(missing, ", "))
	}
	data, err := json.Marshal(fields)
	if err != nil {
		return Manifest{}, err
	}
	var m Manifest
	if err := evidence.DecodeStrict(data, &m); err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	if err := m.validate(); err != nil {
		return m, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	if onHeader != nil {
		if err := onHeader(m); err != nil {
			return m, err
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return m, fmt.Errorf("%s: \"artefacts\" is not a list", ManifestFile)
	}
	for i := 0; dec.More(); i++ {
		lr.max = dec.InputOffset() + maxArtefactJSON + 64<<10
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return m, fmt.Errorf("%s: artefact %d: %w", ManifestFile, i, err)
		}
		var a Artefact
		if err := evidence.DecodeStrict(raw, &a); err != nil {
			return m, fmt.Errorf("%s: artefact %d: %w", ManifestFile, i, err)
		}
		if err := fn(a); err != nil {
			return m, err
		}
	}
	lr.max = dec.InputOffset() + 64<<10
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		return m, fmt.Errorf("%s: the artefact list is not closed", ManifestFile)
	}
	if dec.More() {
		return m, fmt.Errorf("%s: keys after \"artefacts\" (it must be last)", ManifestFile)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return m, fmt.Errorf("%s: the object is not closed", ManifestFile)
	}
	if _, err := dec.Token(); err != io.EOF {
		return m, fmt.Errorf("%s: data after the JSON object", ManifestFile)
	}
	return m, nil
}
