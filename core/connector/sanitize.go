package connector

import (
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// secretQueryParams are query parameters whose values are credentials or signatures
// (lower case). Their values are replaced by REDACTED in recorded URLs.
var secretQueryParams = map[string]bool{
	"x-amz-signature": true, "x-amz-credential": true, "x-amz-security-token": true,
	"signature": true, "sig": true,
	"token": true, "access_token": true, "id_token": true, "refresh_token": true, "private_token": true,
	"code": true, "client_secret": true, "client_assertion": true,
	"key": true, "apikey": true, "api_key": true, "api-key": true, "subscription-key": true,
	"password": true, "passwd": true, "pwd": true, "secret": true,
}

// sasParams are the parts of an Azure shared access signature. Together they describe and
// authorise the grant; they are redacted when the URL carries a SAS (a sig parameter),
// and kept otherwise (se, sp, sv are ordinary names elsewhere).
var sasParams = map[string]bool{
	"sv": true, "ss": true, "srt": true, "sp": true, "se": true, "st": true, "spr": true,
	"sip": true, "sr": true, "si": true, "sdd": true, "ses": true,
	"skoid": true, "sktid": true, "skt": true, "ske": true, "sks": true, "skv": true,
}

// SanitizeURL returns u as text fit for evidence and logs: without user info or fragment,
// with the values of secret query parameters (signatures, tokens, keys, passwords, Azure
// SAS parts) replaced by REDACTED, and with free-text secrets in the path (a Slack webhook,
// a token) redacted. Parameter order and encoding are kept, so the URL still shows what
// was asked for.
func SanitizeURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	c.Fragment, c.RawFragment = "", ""
	c.RawQuery = sanitizeQuery(u.RawQuery)
	c.ForceQuery = false
	return DefaultRedactor().RedactString(c.String())
}

func sanitizeQuery(raw string) string {
	if raw == "" {
		return ""
	}
	parts := strings.Split(raw, "&")
	names := make([]string, len(parts))
	sas := false
	for i, p := range parts {
		name, _, _ := strings.Cut(p, "=")
		if dec, err := url.QueryUnescape(name); err == nil {
			name = dec
		}
		names[i] = strings.ToLower(name)
		if names[i] == "sig" {
			sas = true
		}
	}
	changed := false
	for i, p := range parts {
		if !secretQueryParams[names[i]] && !(sas && sasParams[names[i]]) {
			continue
		}
		name, _, _ := strings.Cut(p, "=")
		parts[i] = name + "=REDACTED"
		changed = true
	}
	if !changed {
		return raw
	}
	return strings.Join(parts, "&")
}

// requestIDHeaders are the headers upstreams put their request id in, in order of
// preference: AWS (JSON and REST/XML APIs), GitHub, Microsoft Graph.
var requestIDHeaders = []string{"X-Amzn-Requestid", "X-Amz-Request-Id", "X-Github-Request-Id", "Request-Id", "Client-Request-Id"}

// maxRequestIDLen bounds a recorded request id; real ones are well below it.
const maxRequestIDLen = 128

// RequestID returns the upstream request id of a response: the first present of
// x-amzn-RequestId, x-amz-request-id, X-GitHub-Request-Id, request-id, client-request-id,
// cut to 128 printable characters and passed through the free-text redaction.
func RequestID(h http.Header) string {
	for _, name := range requestIDHeaders {
		v := h.Get(name)
		if v == "" {
			continue
		}
		if len(v) > maxRequestIDLen {
			v = v[:maxRequestIDLen]
		}
		v = strings.Map(func(r rune) rune {
			if r < ' ' || r > '~' {
				return '?'
			}
			return r
		}, v)
		return DefaultRedactor().RedactString(v)
	}
	return ""
}

// mediaTypeOf returns the media type of a Content-Type header with only its charset
// parameter, for ObjectRef.MediaType.
func mediaTypeOf(contentType string) string {
	t, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	if cs, ok := params["charset"]; ok {
		return mime.FormatMediaType(t, map[string]string{"charset": cs})
	}
	return t
}
