package bundle

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/exhibit-dev/exhibit/evidence"
)

// readManifest is what the verifier reads manifest.json with: decodeManifest's checks and
// results (FuzzReadManifest compares the two), but the artefacts, one per bundled artefact,
// are split off the stream by evidence.ArrayReader and decoded once by DecodeStrict, instead
// of json.Decoder.Decode into a json.RawMessage first, which scanned and copied each twice
// more. Memory is bounded by maxHeader for the header and maxArtefactJSON per artefact.
func readManifest(r io.Reader, maxHeader int64, onHeader func(Manifest) error, fn func(Artefact) error) (Manifest, error) {
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
	// From here the ArrayReader bounds each artefact, so the header's limit is lifted.
	lr.max = math.MaxInt64
	ar := evidence.NewArrayReader(io.MultiReader(dec.Buffered(), lr), maxArtefactJSON)
	for i := 0; ; i++ {
		raw, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
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
	rest := bufio.NewReader(ar.Rest())
	switch c, err := evidence.NextNonSpace(rest); {
	case err != nil:
		return m, fmt.Errorf("%s: the object is not closed", ManifestFile)
	case c == ',':
		return m, fmt.Errorf("%s: keys after \"artefacts\" (it must be last)", ManifestFile)
	case c != '}':
		return m, fmt.Errorf("%s: the object is not closed", ManifestFile)
	}
	if _, err := evidence.NextNonSpace(rest); err != io.EOF {
		return m, fmt.Errorf("%s: data after the JSON object", ManifestFile)
	}
	return m, nil
}
