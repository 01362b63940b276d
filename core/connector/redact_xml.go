package connector

import (
	"bytes"
)

// xmlEdits walks an XML document (AWS query API responses such as STS AssumeRole or IAM)
// and returns the edits that redact it: the text of elements with secret names
// (SecretAccessKey, SessionToken, Password, ...) and the free-text spans found elsewhere,
// located by element path (/AssumeRoleResponse/AssumeRoleResult/Credentials/SessionToken).
//
// It is a tolerant scanner, not a validating parser: a malformed document is still
// redacted as far as it can be read, and every free-text span is redacted whatever the
// structure. Element names are compared without their namespace prefix.
func (r *Redactor) xmlEdits(src []byte, spans []span) []edit {
	x := xmlWalker{r: r, src: src, spans: spans}
	x.walk()
	// Spans in parts the walker skipped (comments, declarations) are still secrets.
	for ; x.si < len(x.spans); x.si++ {
		s := x.spans[x.si]
		x.edits = append(x.edits, edit{start: s.start, end: s.end, rule: s.rule, location: x.location()})
	}
	return mergeEdits(x.edits)
}

type xmlWalker struct {
	r     *Redactor
	src   []byte
	spans []span
	si    int
	stack []xmlElem
	edits []edit
	names nameCache
}

type xmlElem struct {
	name  []byte
	local []byte // name without its namespace prefix
	rule  string
}

func (x *xmlWalker) walk() {
	src := x.src
	pos := 0
	for pos < len(src) {
		k := bytes.IndexByte(src[pos:], '<')
		if k < 0 {
			x.text(pos, len(src))
			return
		}
		lt := pos + k
		x.text(pos, lt)
		rest := src[lt:]
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			pos = x.skipTo(lt, "-->")
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			start := lt + len("<![CDATA[")
			end := bytes.Index(src[start:], []byte("]]>"))
			if end < 0 {
				x.text(start, len(src))
				return
			}
			x.text(start, start+end)
			pos = start + end + len("]]>")
		case bytes.HasPrefix(rest, []byte("<?")):
			pos = x.skipTo(lt, "?>")
		case bytes.HasPrefix(rest, []byte("<!")):
			pos = x.skipTo(lt, ">")
		case bytes.HasPrefix(rest, []byte("</")):
			if len(x.stack) > 0 {
				x.stack = x.stack[:len(x.stack)-1]
			}
			pos = x.skipTo(lt, ">")
		default:
			pos = x.startTag(lt)
		}
	}
}

// skipTo returns the offset after the next end marker at or after i (or the end of src).
func (x *xmlWalker) skipTo(i int, end string) int {
	k := bytes.Index(x.src[i:], []byte(end))
	if k < 0 {
		return len(x.src)
	}
	return i + k + len(end)
}

// startTag reads the start tag at lt and returns the offset after it.
func (x *xmlWalker) startTag(lt int) int {
	src := x.src
	i := lt + 1
	nameEnd := i
	for nameEnd < len(src) && !isXMLSpace(src[nameEnd]) && src[nameEnd] != '>' && src[nameEnd] != '/' {
		nameEnd++
	}
	name := src[i:nameEnd]
	// Find the end of the tag, skipping quoted attribute values (they may contain '>').
	var quote byte
	end := len(src)
	for j := nameEnd; j < len(src); j++ {
		c := src[j]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			end = j + 1
			j = len(src)
		}
	}
	selfClosing := end <= len(src) && end >= 2 && src[end-2] == '/'
	local := name
	if c := bytes.LastIndexByte(name, ':'); c >= 0 {
		local = name[c+1:]
	}
	x.stack = append(x.stack, xmlElem{name: name, local: local, rule: x.r.keyRule(local)})
	// Secrets in attribute values belong to the element.
	x.spansIn(lt, end)
	if selfClosing {
		x.stack = x.stack[:len(x.stack)-1]
	}
	return end
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// text handles the character data src[start:end] of the current element.
func (x *xmlWalker) text(start, end int) {
	if start >= end {
		return
	}
	if n := len(x.stack); n > 0 && x.stack[n-1].rule != "" {
		ts, te := start, end
		for ts < te && isXMLSpace(x.src[ts]) {
			ts++
		}
		for te > ts && isXMLSpace(x.src[te-1]) {
			te--
		}
		if !masked(x.src[ts:te]) {
			x.edits = append(x.edits, edit{start: ts, end: te, rule: x.stack[n-1].rule, location: x.location()})
			for x.si < len(x.spans) && x.spans[x.si].start < end {
				x.si++
			}
			return
		}
	}
	before := len(x.edits)
	x.spansIn(start, end)
	if len(x.edits) > before || len(x.stack) == 0 {
		return
	}
	ts, te := start, end
	for ts < te && isXMLSpace(x.src[ts]) {
		ts++
	}
	for te > ts && isXMLSpace(x.src[te-1]) {
		te--
	}
	if te-ts >= minShapeLen {
		if rule := x.r.shapeRule(&x.names, x.stack[len(x.stack)-1].local, x.src[ts:te]); rule != "" {
			x.edits = append(x.edits, edit{start: ts, end: te, rule: rule, location: x.location()})
		}
	}
}

// spansIn turns the free-text spans that start in [start, end) into edits at the current
// element's path.
func (x *xmlWalker) spansIn(start, end int) {
	for ; x.si < len(x.spans) && x.spans[x.si].start < end; x.si++ {
		s := x.spans[x.si]
		if s.start < start {
			// A span from a part the walker skipped; keep it at the body level.
			x.edits = append(x.edits, edit{start: s.start, end: s.end, rule: s.rule, location: "body"})
			continue
		}
		x.edits = append(x.edits, edit{start: s.start, end: s.end, rule: s.rule, location: x.location()})
	}
}

// location renders the element path, e.g. /AssumeRoleResponse/AssumeRoleResult/Credentials.
func (x *xmlWalker) location() string {
	if len(x.stack) == 0 {
		return "body"
	}
	var b bytes.Buffer
	for _, e := range x.stack {
		b.WriteByte('/')
		b.Write(e.name)
	}
	return b.String()
}
