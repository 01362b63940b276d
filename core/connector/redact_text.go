package connector

import (
	"bytes"
	"sort"
)

// span is a secret found in free text: src[start:end] is replaced, under rule.
type span struct {
	start, end int
	rule       string
}

// findTextSecrets finds the secrets that the free-text patterns recognise anywhere in src,
// sorted and without overlaps.
//
// The patterns are hand-written scanners anchored on literals found with bytes.Index and
// bytes.IndexByte (vectorised), not regular expressions: a 1 MiB page is scanned about as
// fast as json.Valid checks it. Every scanner stops a secret at '"', '<' and '\', so a
// secret found in raw JSON or XML never extends past the string or text node it is in.
func findTextSecrets(src []byte) []span {
	var spans []span
	add := func(s span) { spans = append(spans, s) }
	findPrivateKeys(src, add)
	findAssignments(src, add)
	findAWSSecretsAfterName(src, add)
	findAWSKeyPairs(src, add)
	findPrefixedTokens(src, add)
	findJWTs(src, add)
	findURLPasswords(src, add)
	findBearerTokens(src, add)
	findHeaderLines(src, add)
	findTokenFormats(src, add)
	findSecretsAfterWords(src, add)
	return mergeSpans(spans)
}

// mergeSpans sorts spans and merges those that overlap into one span covering all of
// them, so that no part of any secret survives (an "Authorization:" value running into a
// private key must not hide the rest of the key). A merged span keeps the rule of its
// longest part: that is the secret that was found.
func mergeSpans(spans []span) []span {
	if len(spans) < 2 {
		return spans
	}
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	out := spans[:1]
	longest := spans[0].end - spans[0].start
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		if s.start >= last.end {
			out = append(out, s)
			longest = s.end - s.start
			continue
		}
		if n := s.end - s.start; n > longest {
			last.rule, longest = s.rule, n
		}
		last.end = max(last.end, s.end)
	}
	return out
}

// each calls fn with every index of lit in src.
func each(src []byte, lit string, fn func(i int)) {
	for off := 0; off < len(src); {
		i := bytes.Index(src[off:], []byte(lit))
		if i < 0 {
			return
		}
		fn(off + i)
		off += i + len(lit)
	}
}

// eachByte calls fn with every index of c in src.
func eachByte(src []byte, c byte, fn func(i int)) {
	for off := 0; off < len(src); {
		i := bytes.IndexByte(src[off:], c)
		if i < 0 {
			return
		}
		fn(off + i)
		off += i + 1
	}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isB64(c byte) bool    { return isAlnum(c) || c == '+' || c == '/' }
func isB64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }
func isWord(c byte) bool   { return isAlnum(c) || c == '_' }

// run returns the end of the run of bytes satisfying ok starting at i.
func run(src []byte, i int, ok func(byte) bool) int {
	for i < len(src) && ok(src[i]) {
		i++
	}
	return i
}

// endOfText returns where a text that has no terminator of its own ends: at the next '"'
// or '<' (the end of a JSON string or XML text node) or at the end of src.
func endOfText(src []byte, i int) int {
	for ; i < len(src); i++ {
		if src[i] == '"' || src[i] == '<' {
			return i
		}
	}
	return len(src)
}

// findPrivateKeys finds PEM (and PGP) private key blocks, from BEGIN to END. A block
// without an END line (a truncated key) is redacted to the end of its text.
func findPrivateKeys(src []byte, add func(span)) {
	each(src, "-----BEGIN ", func(i int) {
		labelStart := i + len("-----BEGIN ")
		j := bytes.Index(src[labelStart:min(len(src), labelStart+64)], []byte("-----"))
		if j < 0 {
			return
		}
		label := src[labelStart : labelStart+j]
		if !bytes.HasSuffix(label, []byte("PRIVATE KEY")) && !bytes.HasSuffix(label, []byte("PRIVATE KEY BLOCK")) {
			return
		}
		limit := endOfText(src, labelStart)
		end := limit
		if k := bytes.Index(src[labelStart:limit], []byte("-----END ")); k >= 0 {
			afterEnd := labelStart + k + len("-----END ")
			if m := bytes.Index(src[afterEnd:limit], []byte("-----")); m >= 0 {
				end = afterEnd + m + len("-----")
			}
		}
		add(span{start: i, end: end, rule: RulePrivateKey})
	})
}

// assignment says how the value of a name=value pair is delimited and what it means.
type assignment struct {
	rule string
	// base64 values ([A-Za-z0-9/+=]) end at the first other byte; other values end at
	// whitespace, quotes, '&', ';', '<', '>', '\', ',' and '#'.
	base64 bool
}

// assignments are the names whose value is a secret in key=value text: URL query
// parameters, connection strings, ini and env files, SigV4 Authorization text. Names are
// compared case-insensitively without '_', '-' and '.'.
var assignments = map[string]assignment{
	"xamzsignature":      {rule: RulePresignedURL},
	"signature":          {rule: RulePresignedURL},
	"sig":                {rule: RuleAzureSAS},
	"xamzsecuritytoken":  {rule: RuleAWSSessionToken},
	"accesstoken":        {rule: RuleToken},
	"idtoken":            {rule: RuleToken},
	"refreshtoken":       {rule: RuleToken},
	"token":              {rule: RuleToken},
	"privatetoken":       {rule: RuleToken},
	"clientsecret":       {rule: RuleClientSecret},
	"clientassertion":    {rule: RuleClientSecret},
	"apikey":             {rule: RuleAPIKey},
	"password":           {rule: RulePassword},
	"passwd":             {rule: RulePassword},
	"pwd":                {rule: RulePassword},
	"accountkey":         {rule: RuleConnectionString},
	"sharedaccesskey":    {rule: RuleConnectionString},
	"awssecretaccesskey": {rule: RuleAWSSecretKey, base64: true},
	"secretaccesskey":    {rule: RuleAWSSecretKey, base64: true},
	"awssecretkey":       {rule: RuleAWSSecretKey, base64: true},
	"awssessiontoken":    {rule: RuleAWSSessionToken, base64: true},
	"awssecuritytoken":   {rule: RuleAWSSessionToken, base64: true},
	"sessiontoken":       {rule: RuleAWSSessionToken, base64: true},
}

func isNameByte(c byte) bool { return isWord(c) || c == '-' || c == '.' }

func isValueByte(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '"', '\'', '&', ';', '<', '>', '\\', ',', '#':
		return false
	}
	return c > ' ' && c != 0x7f
}

func isBase64Value(c byte) bool { return isB64(c) || c == '=' }

// findAssignments finds name=value pairs whose name is in assignments, at every '='.
func findAssignments(src []byte, add func(span)) {
	for off := 0; off < len(src); {
		k := bytes.IndexByte(src[off:], '=')
		if k < 0 {
			return
		}
		eq := off + k
		off = eq + 1
		ne := eq
		for ne > 0 && (src[ne-1] == ' ' || src[ne-1] == '\t') {
			ne--
		}
		ns := ne
		for ns > 0 && ne-ns <= 40 && isNameByte(src[ns-1]) {
			ns--
		}
		name := src[ns:ne]
		// "\u0026sig=" is "&sig=" inside a JSON string.
		if ns > 0 && src[ns-1] == '\\' && len(name) > 5 && name[0] == 'u' && string(name[:5]) == "u0026" {
			name = name[5:]
		}
		a, ok := lookupAssignment(name)
		if !ok {
			continue
		}
		vs := eq + 1
		for vs < len(src) && (src[vs] == ' ' || src[vs] == '\t') {
			vs++
		}
		if vs < len(src) && (src[vs] == '"' || src[vs] == '\'') {
			vs++
		}
		valid := isValueByte
		if a.base64 {
			valid = isBase64Value
		}
		ve := run(src, vs, valid)
		if ve == vs || bytes.HasPrefix(src[vs:ve], []byte("[REDACTED")) || bytes.HasPrefix(src[vs:ve], []byte("REDACTED")) {
			continue
		}
		add(span{start: vs, end: ve, rule: a.rule})
		off = ve
	}
}

func lookupAssignment(name []byte) (assignment, bool) {
	if len(name) == 0 || len(name) > 40 {
		return assignment{}, false
	}
	var buf [40]byte
	n := 0
	for _, c := range name {
		if c == '_' || c == '-' || c == '.' {
			continue
		}
		buf[n] = lower(c)
		n++
	}
	a, ok := assignments[string(buf[:n])]
	return a, ok
}

// isHeaderInitial reports whether src[i] is the initial of a header name whose tail
// follows it ("A" of Authorization, "C" of Cookie, either case), not part of a longer word
// (Set-Cookie and Proxy-Authorization are names of their own, separated by '-').
func isHeaderInitial(src []byte, i int, rule string) bool {
	want := byte('a')
	if rule == RuleCookie {
		want = 'c'
	}
	if i < 0 || lower(src[i]) != want {
		return false
	}
	return i == 0 || !isAlnum(src[i-1])
}

// awsSecretNames are the tails of the spellings of the AWS secret key name that may be
// followed by ':' (YAML, JSON-like text, logs), each after "secret" in any case; '=' forms
// are handled by findAssignments. Tails start with rarer bytes than "secret" does.
var awsSecretNames = []string{"AccessKey", "_access_key", "ACCESS_KEY"}

// findAWSSecretsAfterName finds `SecretAccessKey: <40 chars>` in free text.
func findAWSSecretsAfterName(src []byte, add func(span)) {
	for _, name := range awsSecretNames {
		each(src, name, func(i int) {
			if i < 6 || !bytes.EqualFold(src[i-6:i], []byte("secret")) {
				return
			}
			j := i + len(name)
			j = skip(src, j, "\"' \t")
			if j >= len(src) || src[j] != ':' {
				return
			}
			j = skip(src, j+1, "\"' \t")
			if end, ok := awsSecret(src, j); ok {
				add(span{start: j, end: end, rule: RuleAWSSecretKey})
			}
		})
	}
}

func skip(src []byte, i int, set string) int {
	for i < len(src) && bytes.IndexByte([]byte(set), src[i]) >= 0 {
		i++
	}
	return i
}

// awsSecret reports whether an AWS secret access key (40 base64 characters) starts at i.
func awsSecret(src []byte, i int) (int, bool) {
	end := run(src, i, isB64)
	if end-i != 40 || end < len(src) && src[end] == '=' {
		return 0, false
	}
	return end, true
}

// findAWSKeyPairs finds an access key id followed by its secret (a credentials CSV, a
// pasted key pair). The id is kept; only the secret is redacted.
func findAWSKeyPairs(src []byte, add func(span)) {
	for _, prefix := range []string{"AKIA", "ASIA"} {
		each(src, prefix, func(i int) {
			if i > 0 && isAlnum(src[i-1]) {
				return
			}
			idEnd := run(src, i, func(c byte) bool { return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' })
			if idEnd-i != 20 {
				return
			}
			j := skip(src, idEnd, " \t\r\n,;:|\"'=")
			if j == idEnd || j-idEnd > 8 {
				return
			}
			if end, ok := awsSecret(src, j); ok {
				add(span{start: j, end: end, rule: RuleAWSSecretKey})
			}
		})
	}
}

// findPrefixedTokens finds tokens recognisable by their prefix: GitHub (ghp_, gho_, ghu_,
// ghs_, ghr_, github_pat_), Slack (xox?-) and Slack webhook paths.
func findPrefixedTokens(src []byte, add func(span)) {
	// One pass over "gh" finds the classic prefixes ghp_, gho_, ghu_, ghs_ and ghr_.
	each(src, "gh", func(i int) {
		if i > 0 && isWord(src[i-1]) || i+4 > len(src) || src[i+3] != '_' || bytes.IndexByte([]byte("pousr"), src[i+2]) < 0 {
			return
		}
		if end := run(src, i+4, isWord); end-i-4 >= 30 {
			add(span{start: i, end: end, rule: RuleGitHubToken})
		}
	})
	each(src, "github_pat_", func(i int) {
		if i > 0 && isWord(src[i-1]) {
			return
		}
		if end := run(src, i+len("github_pat_"), isWord); end-i-len("github_pat_") >= 22 {
			add(span{start: i, end: end, rule: RuleGitHubToken})
		}
	})
	each(src, "xox", func(i int) {
		if i > 0 && isWord(src[i-1]) || i+4 >= len(src) || src[i+4] != '-' {
			return
		}
		switch src[i+3] {
		case 'a', 'b', 'p', 'o', 'r', 's', 'e':
		default:
			return
		}
		end := run(src, i+5, func(c byte) bool { return isAlnum(c) || c == '-' })
		if end-i-5 >= 10 {
			add(span{start: i, end: end, rule: RuleSlackToken})
		}
	})
	each(src, "hooks.slack.com/services/", func(i int) {
		start := i + len("hooks.slack.com/services/")
		end := run(src, start, func(c byte) bool { return isWord(c) || c == '/' || c == '-' })
		if end > start {
			add(span{start: start, end: end, rule: RuleSlackWebhook})
		}
	})
}

// findJWTs finds JSON Web Tokens: base64url header starting "eyJ" ({"), payload and
// signature separated by dots.
func findJWTs(src []byte, add func(span)) {
	// Anchored on the rare 'J' rather than the common 'e' of "eyJ".
	eachByte(src, 'J', func(j int) {
		i := j - 2
		if i < 0 || src[i] != 'e' || src[i+1] != 'y' || i > 0 && isB64URL(src[i-1]) {
			return
		}
		h := run(src, i, isB64URL)
		if h-i < 10 || h >= len(src) || src[h] != '.' {
			return
		}
		p := run(src, h+1, isB64URL)
		if p-h-1 < 10 || p >= len(src) || src[p] != '.' {
			return
		}
		s := run(src, p+1, isB64URL)
		add(span{start: i, end: s, rule: RuleJWT})
	})
}

// findURLPasswords finds the password of scheme://user:password@host in URLs (also with
// JSON's escaped slashes), anchored on the rare '@'.
func findURLPasswords(src []byte, add func(span)) {
	eachByte(src, '@', func(at int) {
		start := at
		for start > 0 && at-start < 256 {
			c := src[start-1]
			if c == '/' || c == '"' || c == '<' || c == '>' || c == '\\' || c <= ' ' {
				break
			}
			start--
		}
		if !bytes.HasSuffix(src[:start], []byte("://")) && !bytes.HasSuffix(src[:start], []byte(`:\/\/`)) {
			return
		}
		colon := bytes.IndexByte(src[start:at], ':')
		if colon >= 0 && start+colon+1 < at {
			add(span{start: start + colon + 1, end: at, rule: RuleURLPassword})
		}
	})
}

// findBearerTokens finds "Bearer <token>" in free text (error messages quoting headers).
func findBearerTokens(src []byte, add func(span)) {
	for _, p := range []string{"Bearer ", "bearer "} {
		each(src, p, func(i int) {
			if i > 0 && isAlnum(src[i-1]) {
				return
			}
			start := i + len(p)
			end := run(src, start, func(c byte) bool {
				return isB64URL(c) || c == '.' || c == '~' || c == '+' || c == '/' || c == '='
			})
			if end-start >= 8 && !bytes.HasPrefix(src[start:end], []byte("[REDACTED")) {
				add(span{start: start, end: end, rule: RuleBearerToken})
			}
		})
	}
}

// headerLines are request and response headers carrying credentials, as they appear when
// an upstream or a library quotes them in a message.
var headerLines = []struct{ tail, rule string }{
	{"uthorization:", RuleAuthorization}, // Authorization, Proxy-Authorization
	{"ookie:", RuleCookie},               // Cookie, Set-Cookie
}

// findHeaderLines finds "Authorization: <value>" and "Cookie: <value>" (Set-Cookie too) in
// free text and redacts the value to the end of the line, string or text node.
func findHeaderLines(src []byte, add func(span)) {
	for _, h := range headerLines {
		each(src, h.tail, func(i int) {
			if !isHeaderInitial(src, i-1, h.rule) {
				return
			}
			start := skip(src, i+len(h.tail), " \t")
			end := start
			for end < len(src) && src[end] != '\n' && src[end] != '\r' && src[end] != '"' && src[end] != '<' && src[end] != '\\' {
				end++
			}
			if end > start && !bytes.HasPrefix(src[start:end], []byte("[REDACTED")) {
				add(span{start: start, end: end, rule: h.rule})
			}
		})
	}
}
