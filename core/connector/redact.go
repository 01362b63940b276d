package connector

import (
	"bytes"
	"errors"
	"mime"
	"sort"
	"strings"
	"sync"

	"github.com/exhibit-dev/exhibit/evidence"
)

// Redactor removes secrets from response bodies and documents before they are hashed and
// stored. It knows three things:
//
//   - secret keys of JSON objects (password, client_secret, SecretAccessKey, token, ...):
//     their string values are replaced by "[REDACTED:<rule>]", so the JSON stays valid and
//     the SDK still parses it;
//   - secret elements of XML documents (AWS query APIs: SecretAccessKey, SessionToken, ...):
//     their text is replaced the same way;
//   - patterns of secrets in free text anywhere in a body, JSON string or XML text: PEM
//     private keys, AWS secret keys in key=value context, GitHub, Slack and JSON Web
//     tokens, presigned URL and SAS signatures, connection-string keys, URL passwords.
//
// An AWS access key id (AKIA…, ASIA…) on its own is NOT redacted: it is an identifier that
// auditors need (key rotation evidence lists them). Only a secret key paired with it is.
// Public keys and certificates are kept; only private keys are removed.
//
// Every redaction is reported as an evidence.Redaction with its rule and location (a JSON
// path such as $.items[3].token, an XML path such as
// /AssumeRoleResponse/AssumeRoleResult/Credentials/SecretAccessKey, or "body").
// Redaction is deterministic: the same input always yields the same bytes. A Redactor is
// immutable and safe for concurrent use.
type Redactor struct {
	// keys maps normalised exact key names (lower case, without '_', '-' and '.') to rules.
	keys map[string]string
	// suffixes map normalised key suffixes to rules, tried in order.
	suffixes []keySuffix
	// notSecret lists normalised keys that match a suffix but are not secrets (pagination
	// tokens: redacting them would break paging).
	notSecret map[string]bool
	// tails marks the pairs of last two bytes a secret key can end with: a cheap first
	// test, since most keys of a page fail it and need no normalising or lookup.
	tails [1 << 16 / 64]uint64
	// fields are the secret fields a connector declared (see WithSecretFields).
	fields []fieldPattern
}

func tailIndex(a, b byte) int { return int(lower(a))<<8 | int(lower(b)) }

func (r *Redactor) markTail(name string) {
	i := tailIndex(name[len(name)-2], name[len(name)-1])
	r.tails[i/64] |= 1 << (i % 64)
}

// mayBeSecret is the cheap first test of keyRule.
func (r *Redactor) mayBeSecret(name []byte) bool {
	a, b := name[len(name)-2], name[len(name)-1]
	if isSeparator(a) || isSeparator(b) {
		return true // unusual; let the full test decide
	}
	i := tailIndex(a, b)
	return r.tails[i/64]&(1<<(i%64)) != 0
}

func isSeparator(c byte) bool { return c == '_' || c == '-' || c == '.' }

type keySuffix struct {
	suffix string
	rule   string
}

// The rule names a redaction can carry. They appear in "[REDACTED:<rule>]" and in
// evidence.Redaction.Rule.
const (
	RulePassword         = "password"
	RuleSecret           = "secret"
	RuleClientSecret     = "client_secret"
	RuleToken            = "token"
	RuleBearerToken      = "bearer_token"
	RulePrivateKey       = "private_key"
	RuleAWSSecretKey     = "aws_secret_access_key"
	RuleAWSSessionToken  = "aws_session_token"
	RuleAPIKey           = "api_key"
	RuleConnectionString = "connection_string"
	RuleAzureSAS         = "azure_sas_signature"
	RulePresignedURL     = "presigned_url_signature"
	RuleGitHubToken      = "github_token"
	RuleJWT              = "jwt"
	RuleSlackToken       = "slack_token"
	RuleSlackWebhook     = "slack_webhook"
	RuleURLPassword      = "url_password"
	RuleCookie           = "cookie"
	RuleAuthorization    = "authorization"
	RuleCredential       = "credential"
	// Vendor token formats found anywhere by their prefix.
	RuleAzureClientSecret = "azure_client_secret"
	RuleGitLabToken       = "gitlab_token"
	RuleGoogleAPIKey      = "google_api_key"
	RuleStripeKey         = "stripe_key"
	RuleVaultToken        = "vault_token"
	// RuleTokenShaped is a token-shaped value under a key whose name suggests a secret
	// without being a known secret name (e.g. "db_credential_x"); see tokenShaped.
	RuleTokenShaped = "token_shaped"
	// RuleHighEntropy is a long random value under a key whose name says nothing (e.g.
	// "value"); see randomToken.
	RuleHighEntropy = "high_entropy"
)

var defaultRedactor = sync.OnceValue(func() *Redactor {
	r := &Redactor{
		keys: map[string]string{
			"password":                  RulePassword,
			"passwd":                    RulePassword,
			"pwd":                       RulePassword,
			"secret":                    RuleSecret,
			"clientsecret":              RuleClientSecret,
			"secretaccesskey":           RuleAWSSecretKey,
			"awssecretaccesskey":        RuleAWSSecretKey,
			"awssecretkey":              RuleAWSSecretKey,
			"sessiontoken":              RuleAWSSessionToken,
			"awssessiontoken":           RuleAWSSessionToken,
			"securitytoken":             RuleAWSSessionToken,
			"awssecuritytoken":          RuleAWSSessionToken,
			"xamzsecuritytoken":         RuleAWSSessionToken,
			"token":                     RuleToken,
			"accesstoken":               RuleToken,
			"refreshtoken":              RuleToken,
			"idtoken":                   RuleToken,
			"bearertoken":               RuleBearerToken,
			"privatekey":                RulePrivateKey,
			"privatekeypem":             RulePrivateKey,
			"connectionstring":          RuleConnectionString,
			"primaryconnectionstring":   RuleConnectionString,
			"secondaryconnectionstring": RuleConnectionString,
			"sastoken":                  RuleAzureSAS,
			"sharedaccesskey":           RuleConnectionString,
			"accountkey":                RuleConnectionString,
			"primarykey":                RuleAPIKey,
			"secondarykey":              RuleAPIKey,
			"apikey":                    RuleAPIKey,
			"secretkey":                 RuleSecret,
			"secrettext":                RuleSecret,
			"secretstring":              RuleSecret,
			"secretbinary":              RuleSecret,
			"clientassertion":           RuleClientSecret,
			"webhooksecret":             RuleSecret,
			"signingkey":                RuleSecret,
			"credential":                RuleCredential,
			"credentials":               RuleCredential,
			"passphrase":                RulePassword,
			"secretvalue":               RuleSecret,
			"secretdata":                RuleSecret,
			"encryptionkey":             RuleSecret,
			"masterkey":                 RuleSecret,
			// Request headers an upstream may echo back in an error.
			"cookie":             RuleCookie,
			"setcookie":          RuleCookie,
			"authorization":      RuleAuthorization,
			"proxyauthorization": RuleAuthorization,
		},
		suffixes: []keySuffix{
			{"password", RulePassword},
			{"passwd", RulePassword},
			{"clientsecret", RuleClientSecret},
			{"secret", RuleSecret},
			{"secretaccesskey", RuleAWSSecretKey},
			{"sessiontoken", RuleAWSSessionToken},
			{"token", RuleToken},
			{"apikey", RuleAPIKey},
			{"secretkey", RuleSecret},
			{"privatekey", RulePrivateKey},
			{"connectionstring", RuleConnectionString},
			{"passphrase", RulePassword},
			{"credential", RuleCredential},
			{"credentials", RuleCredential},
			{"secretvalue", RuleSecret},
		},
		notSecret: map[string]bool{
			// Pagination and sync tokens are opaque cursors, not credentials.
			"nexttoken": true, "continuationtoken": true, "pagetoken": true, "nextpagetoken": true,
			"paginationtoken": true, "synctoken": true, "deltatoken": true, "skiptoken": true,
			"starttoken": true, "resumptiontoken": true, "cursortoken": true, "nextcontinuationtoken": true,
			"startingtoken": true, "marker": true, "nextmarker": true,
			// Idempotency tokens are identifiers the caller chose.
			"clienttoken": true, "idempotencytoken": true, "clientrequesttoken": true,
		},
	}
	for k := range r.keys {
		r.markTail(k)
	}
	for _, s := range r.suffixes {
		r.markTail(s.suffix)
	}
	return r
})

// DefaultRedactor returns the redactor with the built-in rules. It is shared and immutable.
func DefaultRedactor() *Redactor { return defaultRedactor() }

// maxKeyLen bounds the keys looked up; longer keys are never secret names.
const maxKeyLen = 64

// keyRule returns the rule for a JSON key or XML element name, or "" if it is not secret.
// Names are compared case-insensitively, ignoring '_', '-' and '.', so client_secret,
// clientSecret and Client-Secret are one name.
func (r *Redactor) keyRule(name []byte) string {
	if len(name) < 3 || len(name) > maxKeyLen || !r.mayBeSecret(name) {
		return "" // every secret name has at least three letters ("pwd")
	}
	var buf [maxKeyLen]byte
	n := 0
	for _, c := range name {
		switch {
		case isSeparator(c):
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		buf[n] = c
		n++
	}
	norm := buf[:n]
	if rule, ok := r.keys[string(norm)]; ok {
		return rule
	}
	if r.notSecret[string(norm)] {
		return ""
	}
	for _, s := range r.suffixes {
		if bytes.HasSuffix(norm, []byte(s.suffix)) {
			return s.rule
		}
	}
	return ""
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// masked reports whether the value under a secret-looking name holds no secret: empty or
// masked ("********", as GitHub answers for webhook secrets, or an earlier redaction), so
// that it is not redacted again or counted, or a boolean. Names are matched by suffix, so
// flags such as IAM's <AllowUsersToChangePassword>true</...> look secret by name; their
// text must stay parseable for the SDK, and "true" or "false" discloses nothing.
func masked(v []byte) bool {
	if len(v) == 0 {
		return true
	}
	if bytes.EqualFold(v, []byte("true")) || bytes.EqualFold(v, []byte("false")) {
		return true
	}
	if bytes.HasPrefix(v, []byte("[REDACTED")) {
		return true
	}
	return len(bytes.Trim(v, "*")) == 0
}

// edit replaces src[start:end] by "[REDACTED:rule]".
type edit struct {
	start, end int
	rule       string
	location   string
}

// applyEdits returns src with the edits (sorted, not overlapping) applied, and the
// redactions they make, aggregated by rule and location in order of first appearance.
func applyEdits(src []byte, edits []edit) ([]byte, []evidence.Redaction) {
	if len(edits) == 0 {
		return src, nil
	}
	grow := 0
	for _, e := range edits {
		grow += len("[REDACTED:]") + len(e.rule) - (e.end - e.start)
	}
	out := make([]byte, 0, max(len(src)+grow, 0))
	last := 0
	var reds []evidence.Redaction
	index := map[[2]string]int{}
	for _, e := range edits {
		out = append(out, src[last:e.start]...)
		out = append(out, "[REDACTED:"...)
		out = append(out, e.rule...)
		out = append(out, ']')
		last = e.end
		k := [2]string{e.rule, e.location}
		if i, ok := index[k]; ok {
			reds[i].Count++
			continue
		}
		index[k] = len(reds)
		reds = append(reds, evidence.Redaction{Rule: e.rule, Location: e.location, Count: 1})
	}
	out = append(out, src[last:]...)
	return out, reds
}

// bodyFormat is how a body is parsed for redaction.
type bodyFormat int

const (
	formatText bodyFormat = iota
	formatJSON
	formatXML
)

// formatOf picks the parser for a body from its Content-Type, falling back to sniffing the
// first byte when the type says nothing useful.
func formatOf(contentType string, body []byte) bodyFormat {
	mt := contentType
	if t, _, err := mime.ParseMediaType(contentType); err == nil {
		mt = t
	}
	mt = strings.ToLower(mt)
	switch {
	case strings.Contains(mt, "json"):
		return formatJSON
	case strings.Contains(mt, "xml"):
		return formatXML
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 {
		switch trimmed[0] {
		case '{', '[':
			return formatJSON
		case '<':
			return formatXML
		}
	}
	return formatText
}

// Redact removes secrets from a response body of the given Content-Type and returns the
// redacted body and what was removed. A body that is not what its type claims (invalid
// JSON) is redacted as free text. If nothing is redacted the returned slice is body itself.
func (r *Redactor) Redact(contentType string, body []byte) ([]byte, []evidence.Redaction) {
	return r.redact(contentType, body, nil)
}

// RedactResponse is Redact for a response to a request for the URL path: the secret
// fields declared for that endpoint (see WithSecretFields) are redacted too.
func (r *Redactor) RedactResponse(path, contentType string, body []byte) ([]byte, []evidence.Redaction) {
	return r.redact(contentType, body, r.forResponse(path))
}

func (r *Redactor) redact(contentType string, body []byte, fields []fieldPattern) ([]byte, []evidence.Redaction) {
	spans := findTextSecrets(body)
	switch formatOf(contentType, body) {
	case formatJSON:
		if edits, err := r.jsonEdits(body, spans, fields); err == nil {
			return applyEdits(body, edits)
		}
	case formatXML:
		return applyEdits(body, r.xmlEdits(body, spans))
	}
	return applyEdits(body, textEdits(spans, "body"))
}

// RedactJSONDocument removes secrets from a JSON document (the runner applies it to every
// document a connector emits). The result is valid JSON with the same structure; secret
// string values become "[REDACTED:<rule>]". It fails if doc is not valid JSON.
func (r *Redactor) RedactJSONDocument(doc []byte) ([]byte, []evidence.Redaction, error) {
	return r.redactDocument(doc, nil)
}

// RedactDocument is RedactJSONDocument for a document of kind: the secret fields declared
// for that kind (see WithSecretFields) are redacted too.
func (r *Redactor) RedactDocument(kind string, doc []byte) ([]byte, []evidence.Redaction, error) {
	return r.redactDocument(doc, r.forDocument(kind))
}

func (r *Redactor) redactDocument(doc []byte, fields []fieldPattern) ([]byte, []evidence.Redaction, error) {
	edits, err := r.jsonEdits(doc, findTextSecrets(doc), fields)
	if err != nil {
		return nil, nil, err
	}
	out, reds := applyEdits(doc, edits)
	return out, reds, nil
}

// RedactString removes secrets matched by the free-text patterns from s (error messages,
// header values, URLs). It never fails.
func (r *Redactor) RedactString(s string) string {
	b := []byte(s)
	spans := findTextSecrets(b)
	if len(spans) == 0 {
		return s
	}
	out, _ := applyEdits(b, textEdits(spans, "body"))
	return string(out)
}

// RedactError returns err with its message passed through RedactString. The result still
// unwraps to err, so errors.Is, errors.As and GapStatus see through it; only Error() is
// redacted. Use it on errors that may quote a request URL (http.Client puts the full URL,
// query included, into its *url.Error) before the text goes into a gap or a log.
func (r *Redactor) RedactError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := r.RedactString(msg)
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// errNotJSON is returned by jsonEdits for bodies that are not JSON.
var errNotJSON = errors.New("not valid JSON")

// textEdits turns free-text spans into edits at one location.
func textEdits(spans []span, location string) []edit {
	edits := make([]edit, 0, len(spans))
	for _, s := range spans {
		edits = append(edits, edit{start: s.start, end: s.end, rule: s.rule, location: location})
	}
	return edits
}

// mergeEdits sorts edits and merges those that overlap into one edit covering all of
// them (at the location and with the rule of the first), so that no part of a secret
// survives an overlap.
func mergeEdits(edits []edit) []edit {
	if len(edits) < 2 {
		return edits
	}
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	out := edits[:1]
	for _, e := range edits[1:] {
		last := &out[len(out)-1]
		if e.start >= last.end {
			out = append(out, e)
			continue
		}
		last.end = max(last.end, e.end)
	}
	return out
}
