package bundle

import (
	"bufio"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"html"
	"io"
	"path"
	"regexp"
	"strings"
)

// reportChecker checks the report files alongside the other content checks, collecting
// its problems in cr (which shadows the verifier's) to be merged after theirs.
type reportChecker struct {
	*verifier
	cr *Report
}

// checkReport checks that every file the report files reference is bundled (and, where
// they give one, with the hash they give). The report is what auditors read first; a link
// to evidence that is not there is a broken promise.
func (v *reportChecker) checkReport(m *Manifest) {
	for _, rel := range m.Report {
		if !strings.HasPrefix(rel, DirReport+"/") {
			v.cr.addf(ManifestFile, "report file %q is not under report/", rel)
			continue
		}
		e := v.listedFile(rel)
		if e == nil {
			v.cr.addf(rel, "the report file is missing or altered")
			continue
		}
		rc := v.openAuth(e)
		var err error
		switch path.Ext(rel) {
		case ".csv":
			err = v.checkCSV(rel, rc)
		case ".html":
			err = v.checkHTML(rel, rc)
		case ".json":
			err = v.checkJSONLinks(rel, rc)
		default:
			_, err = io.Copy(io.Discard, rc)
		}
		rc.Close()
		if err != nil {
			v.cr.addf(rel, "cannot be read: %v", err)
		}
	}
}

// reference checks one link found in report file from: relative links must resolve to a
// bundled file inside the top folder; links elsewhere make the report depend on something
// the bundle does not hold. It returns the target's entry, or nil.
func (v *reportChecker) reference(from, href string) *entry {
	return v.referenceIn(from, path.Dir(from), href)
}

// referenceIn resolves href relative to the directory base.
func (v *reportChecker) referenceIn(from, base, href string) *entry {
	if href == "" || strings.HasPrefix(href, "#") {
		return nil
	}
	if i := strings.IndexAny(href, ":/"); i >= 0 && href[i] == ':' || strings.HasPrefix(href, "//") {
		v.cr.addf(from, "references %q outside the bundle (the report must be readable offline)", printable(href))
		return nil
	}
	target, _, _ := strings.Cut(href, "#")
	target, _, _ = strings.Cut(target, "?")
	rel := path.Join(base, target)
	if rel == ".." || strings.HasPrefix(rel, "../") || strings.HasPrefix(rel, "/") {
		v.cr.addf(from, "references %q outside the bundle folder", printable(href))
		return nil
	}
	e := v.file(rel)
	if e == nil || !e.listed {
		v.cr.addf(from, "references %s, which is not in the bundle", rel)
		return nil
	}
	return e
}

// checkCSV checks the evidence_files column: paths relative to the top folder.
func (v *reportChecker) checkCSV(rel string, r io.Reader) error {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return err
	}
	col := -1
	for i, h := range header {
		if h == "evidence_files" {
			col = i
		}
	}
	if col < 0 {
		return errors.New("no evidence_files column")
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if col >= len(rec) {
			continue
		}
		for _, p := range strings.Fields(rec[col]) {
			v.referenceIn(rel, ".", p) // relative to the top folder
		}
	}
}

var htmlRef = regexp.MustCompile(`(?i)\b(?:href|src)\s*=\s*"([^"]*)"`)

// checkHTML checks every href and src of the page.
func (v *reportChecker) checkHTML(rel string, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		for _, m := range htmlRef.FindAllSubmatch(sc.Bytes(), -1) {
			v.reference(rel, html.UnescapeString(string(m[1])))
		}
	}
	return sc.Err()
}

// rlink is an OSCAL back-matter resource link.
type rlink struct {
	Href   string `json:"href"`
	Hashes []struct {
		Algorithm string `json:"algorithm"`
		Value     string `json:"value"`
	} `json:"hashes"`
}

// checkJSONLinks checks a JSON report (OSCAL assessment results) as a stream, so its size
// does not matter: every "href" must resolve, and every back-matter "rlinks" hash must be
// the file's SHA-256.
func (v *reportChecker) checkJSONLinks(rel string, r io.Reader) error {
	return walkLinks(r, func(href string) { v.reference(rel, href) }, func(l rlink) { v.checkRLink(rel, l) })
}

func (v *reportChecker) checkRLink(rel string, l rlink) {
	e := v.reference(rel, l.Href)
	if e == nil {
		return
	}
	for _, h := range l.Hashes {
		if h.Algorithm != "SHA-256" {
			continue
		}
		var given [32]byte
		if n, err := hex.Decode(given[:], []byte(h.Value)); err != nil || n != len(given) || given != e.sum {
			v.cr.addf(rel, "gives %s the hash %s, but it is %x", strings.TrimPrefix(e.name, v.top+"/"), printable(h.Value), e.sum)
		}
	}
}
