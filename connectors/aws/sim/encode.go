package sim

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// leaf returns <name>value</name>.
func leaf(name string, v any) string {
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case bool:
		s = strconv.FormatBool(t)
	case int:
		s = strconv.Itoa(t)
	case time.Time:
		s = t.UTC().Format(time.RFC3339)
	default:
		panic("sim: unsupported XML value")
	}
	return "<" + name + ">" + esc(s) + "</" + name + ">"
}

// el returns <name>children…</name>.
func el(name string, children ...string) string {
	return "<" + name + ">" + strings.Join(children, "") + "</" + name + ">"
}

// list returns <name><member>…</member>…</name> with the given member element name.
func list(name, member string, items []string) string {
	var b strings.Builder
	b.WriteString("<" + name + ">")
	for _, it := range items {
		b.WriteString("<" + member + ">" + it + "</" + member + ">")
	}
	b.WriteString("</" + name + ">")
	return b.String()
}

// writeQuery answers an awsQuery operation.
func writeQuery(w http.ResponseWriter, c *call, result ...string) {
	w.Header().Set("Content-Type", "text/xml")
	io.WriteString(w, `<`+c.op+`Response xmlns="https://`+c.service+`.amazonaws.com/doc/sim/">`+
		el(c.op+"Result", result...)+
		`<ResponseMetadata><RequestId>sim-`+c.op+`</RequestId></ResponseMetadata></`+c.op+`Response>`)
}

// writeEC2 answers an ec2Query operation.
func writeEC2(w http.ResponseWriter, c *call, body ...string) {
	w.Header().Set("Content-Type", "text/xml")
	io.WriteString(w, `<`+c.op+`Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>sim-`+c.op+`</requestId>`+
		strings.Join(body, "")+`</`+c.op+`Response>`)
}

// writeJSON answers a JSON protocol operation.
func writeJSON(w http.ResponseWriter, c *call, v any) {
	if c.proto == protoJSON {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("X-Amzn-Requestid", "sim-"+c.op)
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Write(b)
}

// writeXML answers a restXml operation.
func writeXML(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Amz-Request-Id", "sim-s3")
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+body)
}

// page returns the slice bounds of the page starting at token ("" = first) and the token
// of the next page ("" = last). Tokens are opaque offsets.
func (s *Sim) page(n int, token string) (start, end int, next string) {
	if token != "" {
		v, err := strconv.Atoi(strings.TrimPrefix(token, "page-"))
		if err == nil && v >= 0 && v <= n {
			start = v
		}
	}
	end = min(start+s.opts.PageSize, n)
	if end < n {
		next = "page-" + strconv.Itoa(end)
	}
	return start, end, next
}

// str returns a string parameter of a JSON body.
func (c *call) str(key string) string {
	v, _ := c.body[key].(string)
	return v
}

// epoch is the awsJson timestamp form.
func epoch(t time.Time) float64 { return float64(t.Unix()) }

func days(d int) time.Duration { return time.Duration(d) * 24 * time.Hour }
