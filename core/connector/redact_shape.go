package connector

import (
	"bytes"
	"encoding/base64"
	"math"
)

// Redaction by the shape of a value, for secrets whose key name says nothing or says too
// little: a token under a key such as "db_credential_x", a random string under "value", a
// secret quoted in an upstream's error message ("client_secret X is invalid").
//
// Identifiers must survive: an auditor needs ids, digests, commit SHAs, ARNs, GUIDs and
// dates. So a value is only judged by its shape when nothing simpler explains it:
//
//   - hex strings (digests, commit ids, thumbprints), UUIDs/GUIDs, numbers, dates, URLs,
//     ARNs and e-mail addresses are never secret-shaped;
//   - plain words and enum values (letters with '_', '-' or '.', no digits) are not either;
//   - base64 that decodes to text (GitHub node ids and cursors) or to a certificate or
//     public key (DER SEQUENCE of SEQUENCEs) is an encoding, not a secret.

// suspectFragments are parts of key names that make a token-shaped value under them a
// secret even though the name is not a known secret name (compared on the normalised
// name: lower case without '_', '-' and '.').
var suspectFragments = []string{
	"secret", "credential", "passphrase", "password", "passwd", "passcode", "token",
	"apikey", "privatekey", "accesskey", "secretkey", "signingkey", "encryptionkey",
	"sharedkey", "masterkey", "authkey", "authorization", "cred", "pwd",
}

// notSecretSuffixes are endings of normalised key names whose values describe a secret
// (its id, name, type, age, fingerprint) rather than being one, and endings of names of
// identifiers and encodings that look random but are public.
var notSecretSuffixes = []string{
	"id", "ids", "arn", "arns", "name", "names", "type", "types", "url", "uri", "urls", "link",
	"date", "time", "at", "count", "status", "state", "enabled", "length", "age", "policy",
	"policies", "hint", "version", "method", "methods", "format", "kind", "prefix", "suffix",
	"mode", "region", "location", "path", "fingerprint", "thumbprint", "hash", "digest", "sha",
	"expiry", "expiration", "expires", "issuer", "audience", "subject", "scope", "scopes",
	"description", "label", "title", "endpoint", "lastused", "duration", "lifetime", "days",
	"reason", "source", "provider", "algorithm", "owner", "user", "username", "email", "etag",
	"cursor", "marker", "checksum", "signature", "nonce", "identifier",
}

// secretNameClass says what a key name (not a known secret name) tells about its value.
type secretNameClass uint8

const (
	nameNeutral   secretNameClass = iota // judge a random-looking value by shape alone
	nameSuspect                          // a token-shaped value is a secret
	nameNotSecret                        // an id, digest or description: never judged by shape
)

// classifyName classifies a key or element name that keyRule did not recognise.
func (r *Redactor) classifyName(name []byte) secretNameClass {
	if len(name) > maxKeyLen {
		return nameNeutral
	}
	var buf [maxKeyLen]byte
	n := 0
	for _, c := range name {
		if isSeparator(c) {
			continue
		}
		buf[n] = lower(c)
		n++
	}
	norm := buf[:n]
	if r.notSecret[string(norm)] {
		return nameNotSecret
	}
	for _, s := range notSecretSuffixes {
		if bytes.HasSuffix(norm, []byte(s)) {
			return nameNotSecret
		}
	}
	for _, f := range suspectFragments {
		if bytes.Contains(norm, []byte(f)) {
			return nameSuspect
		}
	}
	// Other keys ("key", "publicKey", "sshKey") hold public keys: random, but not secret.
	if bytes.HasSuffix(norm, []byte("key")) || bytes.HasSuffix(norm, []byte("keys")) {
		return nameNotSecret
	}
	return nameNeutral
}

// classes counts the kinds of bytes in a value.
type classes struct {
	lower, upper, inner, digit, other, space, nonASCII int
}

func classify(v []byte) classes {
	var c classes
	for i, b := range v {
		switch {
		case b >= 'a' && b <= 'z':
			c.lower++
		case b >= 'A' && b <= 'Z':
			c.upper++
			if i > 0 {
				c.inner++
			}
		case b >= '0' && b <= '9':
			c.digit++
		case b <= ' ' || b == 0x7f:
			c.space++
		case b >= 0x80:
			c.nonASCII++
		default:
			c.other++
		}
	}
	return c
}

// tokenShaped reports whether v looks like a credential rather than a word, an identifier
// or a description: one run of printable ASCII of at least minLen bytes, with letters and
// digits or symbols, that is none of the public shapes listed above.
func tokenShaped(v []byte, minLen int) bool {
	if len(v) < minLen || len(v) > 4096 || masked(v) || bytes.HasPrefix(v, []byte("REDACTED")) {
		return false
	}
	c := classify(v)
	if c.space > 0 || c.nonASCII > 0 || c.lower+c.upper == 0 {
		return false
	}
	if c.digit == 0 && onlyWordSymbols(v) {
		return false // words, camelCase and snake_case enum values
	}
	return !publicShape(v, c)
}

// onlyWordSymbols reports whether v has no symbols but '_', '-' and '.'.
func onlyWordSymbols(v []byte) bool {
	for _, b := range v {
		if !isAlnum(b) && b != '_' && b != '-' && b != '.' {
			return false
		}
	}
	return true
}

// publicShape reports whether v is an identifier, digest, date, URL, ARN or e-mail address.
func publicShape(v []byte, c classes) bool {
	switch {
	case isHexLike(v), isUUID(v), isDateLike(v), c.lower+c.upper == 0:
		return true
	case bytes.Contains(v, []byte("://")), bytes.HasPrefix(v, []byte("arn:")):
		return true
	case bytes.Count(v, []byte("@")) == 1 && bytes.IndexByte(v[bytes.IndexByte(v, '@'):], '.') > 0 && onlyEmailBytes(v):
		return true
	}
	return false
}

// isHexLike reports whether v is hex digits, possibly grouped by ':' or '-' (digests,
// commit ids, certificate serials and thumbprints, MAC addresses).
func isHexLike(v []byte) bool {
	for _, b := range v {
		if !isHex(b) && b != ':' && b != '-' {
			return false
		}
	}
	return true
}

func isHex(b byte) bool { return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F' }

// isUUID reports whether v is a UUID/GUID, optionally in braces.
func isUUID(v []byte) bool {
	if len(v) == 38 && v[0] == '{' && v[37] == '}' {
		v = v[1:37]
	}
	if len(v) != 36 {
		return false
	}
	for i, b := range v {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if b != '-' {
				return false
			}
		} else if !isHex(b) {
			return false
		}
	}
	return true
}

// isDateLike reports whether v is made of digits and date and time separators only.
func isDateLike(v []byte) bool {
	for _, b := range v {
		if !(b >= '0' && b <= '9') && bytes.IndexByte([]byte("-:.+TZ/ "), b) < 0 {
			return false
		}
	}
	return true
}

func onlyEmailBytes(v []byte) bool {
	for _, b := range v {
		if !isAlnum(b) && bytes.IndexByte([]byte("@._-+"), b) < 0 {
			return false
		}
	}
	return true
}

// minRandomLen is the shortest value judged random without a hint from its key name.
const minRandomLen = 32

// randomToken reports whether v, a whole string value under a key that says nothing, is a
// random secret: at least minRandomLen bytes of one base64 alphabet (standard or URL),
// not starting with '/', with upper and lower case letters and digits, with entropy near
// that of random bytes, and not an encoding of text, of a certificate or of a public key.
func randomToken(v []byte) bool {
	if len(v) < minRandomLen || len(v) > 1024 {
		return false
	}
	// The base64 alphabets, '=' only as padding.
	for i, b := range v {
		if !isB64URL(b) && b != '+' && b != '/' && (b != '=' || i < len(v)-2) {
			return false
		}
	}
	c := classify(v)
	if c.lower < 2 || c.upper < 2 || c.digit < 2 || v[0] == '/' {
		return false // a path is not a token
	}
	std := bytes.ContainsAny(v, "+/")
	if std && bytes.ContainsAny(v, "-_") {
		return false // a token is in one base64 alphabet; both means text
	}
	if encodesPrivateKey(v) {
		return true // its fixed DER header lowers the entropy of a short key
	}
	// Random bytes from an alphabet of about 62 use nearly log2(min(n, 62)) bits per byte;
	// paths, words and ids with a few random parts stay well below.
	if entropy(v) < 0.85*math.Log2(float64(min(len(v), 62))) {
		return false
	}
	return !encodesPublicData(v)
}

// entropy returns the Shannon entropy of v's bytes in bits per byte.
func entropy(v []byte) float64 {
	var counts [256]int
	for _, b := range v {
		counts[b]++
	}
	h, n := 0.0, float64(len(v))
	for _, k := range counts {
		if k > 0 {
			p := float64(k) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// encodesPrivateKey reports whether v is base64 of a DER private key (PKCS#1, PKCS#8,
// SEC 1): SEQUENCE { INTEGER 0 or 1, ... }.
func encodesPrivateKey(v []byte) bool {
	var buf [12]byte
	head := v[:16] // 16 base64 bytes decode to 12
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if n, err := enc.Decode(buf[:], head); err == nil && n == 12 && buf[0] == 0x30 {
			i := 2
			if buf[1]&0x80 != 0 {
				i += int(buf[1] & 0x7f)
			}
			if i+2 < n && buf[i] == 0x02 && buf[i+1] == 0x01 && buf[i+2] <= 1 {
				return true
			}
		}
	}
	return false
}

// encodesPublicData reports whether v is base64 of mostly printable text (GitHub node ids
// and cursors, encoded JSON) or of a DER certificate or public key.
func encodesPublicData(v []byte) bool {
	trimmed := bytes.TrimRight(v, "=")
	var buf [768]byte
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		n, err := enc.Decode(buf[:], trimmed)
		if err != nil || n == 0 {
			continue
		}
		d := buf[:n]
		printable := 0
		for _, b := range d {
			if b >= ' ' && b < 0x7f || b == '\n' || b == '\r' || b == '\t' {
				printable++
			}
		}
		// Random bytes are printable about 37% of the time; text with a little binary
		// framing (msgpack cursors) well above two thirds.
		if printable*3 >= n*2 {
			return true
		}
		// DER: SEQUENCE { SEQUENCE ... } is a certificate or a SubjectPublicKeyInfo; a
		// private key starts SEQUENCE { INTEGER 0 ...} and is not exempt.
		if len(d) > 4 && d[0] == 0x30 {
			i := 2
			if d[1]&0x80 != 0 {
				i += int(d[1] & 0x7f)
			}
			if i < len(d) && d[i] == 0x30 {
				return true
			}
		}
	}
	return false
}

// minShapeLen is the shortest value judged by its shape.
const minShapeLen = 8

// nameCache remembers the class of each key name met in one document: a listing repeats
// the same few keys thousands of times.
type nameCache map[string]secretNameClass

// shapeRule returns the rule under which a string value that neither its key's name nor a
// free-text pattern marks as secret is redacted for its shape, or "".
func (r *Redactor) shapeRule(names *nameCache, key, v []byte) string {
	class := nameNeutral
	if key != nil {
		var ok bool
		if class, ok = (*names)[string(key)]; !ok {
			class = r.classifyName(key)
			if *names == nil {
				*names = nameCache{}
			}
			(*names)[string(key)] = class
		}
	}
	switch {
	case class == nameSuspect && tokenShaped(v, minShapeLen):
		return RuleTokenShaped
	case class == nameNeutral && randomToken(v):
		return RuleHighEntropy
	}
	return ""
}
