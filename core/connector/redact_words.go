package connector

import (
	"bytes"
	"strings"
	"sync"
)

// secretWords are the words after which a message may quote a secret ("client_secret X is
// invalid", "password: X", "the token 'X' expired"). Each is found through anchors: parts
// of it that start with a byte rarer than its first (see eachOf), in the cases it is
// written in, at offset off of the word; the word is then checked whole, ignoring case.
var secretWords = []struct {
	word    string
	off     int
	anchors []string
	rule    string
}{
	{"secret", 2, []string{"cre", "CRE"}, RuleSecret},
	{"credential", 0, []string{"cre", "Cre", "CRE"}, RuleCredential},
	{"password", 4, []string{"wor", "WOR"}, RulePassword},
	{"passwd", 4, []string{"wd", "WD"}, RulePassword},
	{"token", 2, []string{"ken", "KEN"}, RuleToken},
}

// findSecretsAfterWords finds a token-shaped value right after a secret word: separated
// from it by blanks, one ':' or '=', quotes, or "is"; not a word, an id or a URL (see
// tokenShaped). After ':' or '=' six bytes suffice ("password: hunter2"), otherwise eight.
func findSecretsAfterWords(src []byte, add func(span)) {
	eachOf(src, wordAnchors(), func(i, which int) {
		w := secretWords[which]
		start := i - w.off
		end := start + len(w.word)
		if start < 0 || end > len(src) || !bytes.EqualFold(src[start:end], []byte(w.word)) {
			return
		}
		if start > 0 && (src[start-1] == ':' || src[start-1] == '/') {
			return // part of an ARN or a path (arn:aws:secretsmanager:…:secret:name)
		}
		{
			if end < len(src) && (src[end] == 's' || src[end] == 'S') {
				end++
			}
			if end < len(src) && isWord(src[end]) {
				return // secret_scanning, tokenUrl, SecretAccessKey: another name
			}
			if pagingName(src, start, end) {
				return // skiptoken=, nextToken: a cursor, not a credential
			}
			vs, assigned, ok := afterSecretWord(src, end)
			if !ok {
				return
			}
			valid := isMessageValueByte
			if assigned && vs > 0 && src[vs-1] == '=' {
				valid = isValueByte // a query parameter ends at '&'
			}
			ve := run(src, vs, valid)
			for ve > vs && bytes.IndexByte([]byte(".,:;!?)]}"), src[ve-1]) >= 0 {
				ve--
			}
			minLen := 8
			if assigned {
				minLen = 6
			}
			if tokenShaped(src[vs:ve], minLen) {
				add(span{start: vs, end: ve, rule: w.rule})
			}
		}
	})
}

// isMessageValueByte accepts the bytes of a secret quoted in a message: anything but
// blanks, quotes and the ends of JSON strings and XML text.
func isMessageValueByte(c byte) bool {
	switch c {
	case '"', '\'', '`', '<', '>', '\\':
		return false
	}
	return c > ' ' && c != 0x7f
}

// pagingName reports whether the name around the secret word src[start:end] is one of
// the pagination and idempotency tokens (skiptoken, nextToken, ClientToken).
func pagingName(src []byte, start, end int) bool {
	ns := start
	for ns > 0 && start-ns < 32 && isNameByte(src[ns-1]) {
		ns--
	}
	if ns == start {
		return false
	}
	var buf [64]byte
	n := 0
	for _, c := range src[ns:end] {
		if !isSeparator(c) && n < len(buf) {
			buf[n] = lower(c)
			n++
		}
	}
	// By suffix: a URL-encoded "$skiptoken" reads "%24skiptoken" here.
	name := string(buf[:n])
	for ns := range defaultRedactor().notSecret {
		if strings.HasSuffix(name, ns) {
			return true
		}
	}
	return false
}

// afterSecretWord skips what may stand between a secret word and its value. It reports
// where the value starts, whether a ':' or '=' was seen, and false if nothing separated
// the word from what follows.
func afterSecretWord(src []byte, i int) (int, bool, bool) {
	start, assigned := i, false
	for n := 0; i < len(src) && n < 8; n++ {
		switch c := src[i]; {
		case c == ' ' || c == '\t' || c == '"' || c == '\'' || c == '`':
			i++
		case (c == ':' || c == '=') && !assigned:
			assigned = true
			i++
		case (c == 'i' || c == 'I') && i+2 < len(src) && (src[i+1] == 's' || src[i+1] == 'S') && src[i+2] == ' ' && i > start && src[i-1] == ' ':
			i += 3 // "the secret is X"
		default:
			return i, assigned, i > start
		}
	}
	return i, assigned, i > start
}

// tokenFormat is a credential format recognisable by its prefix.
type tokenFormat struct {
	prefix string
	// off is where the anchor starts in the prefix: prefix[off:] starts with a rarer byte
	// than the prefix does (see eachOf).
	off int
	// minTail and maxTail bound the length of the part after the prefix (0: no maximum).
	minTail, maxTail int
	// tail accepts the bytes of the part after the prefix.
	tail func(byte) bool
	rule string
}

func isTokenByte(c byte) bool { return isWord(c) || c == '-' }

// tokenFormats are vendor credential formats beyond GitHub's and Slack's (see
// findPrefixedTokens): each prefix is specific enough that nothing else carries it.
var tokenFormats = []tokenFormat{
	{prefix: "glpat-", minTail: 20, tail: isTokenByte, rule: RuleGitLabToken},
	{prefix: "AIza", minTail: 35, maxTail: 35, tail: isTokenByte, rule: RuleGoogleAPIKey},
	{prefix: "sk_live_", off: 1, minTail: 20, tail: isAlnum, rule: RuleStripeKey},
	{prefix: "rk_live_", off: 1, minTail: 20, tail: isAlnum, rule: RuleStripeKey},
	{prefix: "hvs.", minTail: 24, tail: isTokenByte, rule: RuleVaultToken},
}

// findTokenFormats finds the tokenFormats, PuTTY private keys and Azure AD (Entra ID)
// client secrets.
func findTokenFormats(src []byte, add func(span)) {
	eachOf(src, formatAnchors(), func(i, which int) {
		if which == len(tokenFormats) {
			// PuTTY private key files (.ppk) have no PEM frame: redact to the end of the text.
			add(span{start: i, end: endOfText(src, i), rule: RulePrivateKey})
			return
		}
		f := tokenFormats[which]
		start := i - f.off
		if start < 0 || !bytes.HasPrefix(src[start:], []byte(f.prefix)) || start > 0 && isTokenByte(src[start-1]) {
			return
		}
		end := run(src, start+len(f.prefix), f.tail)
		n := end - start - len(f.prefix)
		if n < f.minTail || f.maxTail > 0 && n > f.maxTail {
			return
		}
		add(span{start: start, end: end, rule: f.rule})
	})
	findAzureClientSecrets(src, add)
}

// anchorSet is a set of literals, each searched for in one pass, and the groups (words,
// formats) each stands for.
type anchorSet []struct {
	lit    string
	groups []int
}

func newAnchorSet(lits [][]string) anchorSet {
	var s anchorSet
	index := map[string]int{}
	for group, ls := range lits {
		for _, lit := range ls {
			i, ok := index[lit]
			if !ok {
				i = len(s)
				index[lit] = i
				s = append(s, struct {
					lit    string
					groups []int
				}{lit: lit})
			}
			s[i].groups = append(s[i].groups, group)
		}
	}
	return s
}

var wordAnchors = sync.OnceValue(func() anchorSet {
	lits := make([][]string, len(secretWords))
	for i, w := range secretWords {
		lits[i] = w.anchors
	}
	return newAnchorSet(lits)
})

var formatAnchors = sync.OnceValue(func() anchorSet {
	lits := make([][]string, 0, len(tokenFormats)+1)
	for _, f := range tokenFormats {
		lits = append(lits, []string{f.prefix[f.off:]})
	}
	return newAnchorSet(append(lits, []string{"PuTTY-User-Key-File-"}))
})

// eachOf calls fn with every index of every literal of set in src and each group the
// literal stands for. Each literal is one bytes.Index pass, which is fast when its first
// byte is rare: literals start with 'k', 'w', 'c' or upper case rather than with the
// common 'e', 'a' or 's' of the words they find.
func eachOf(src []byte, set anchorSet, fn func(i, group int)) {
	for _, a := range set {
		each(src, a.lit, func(i int) {
			for _, g := range a.groups {
				fn(i, g)
			}
		})
	}
}

func isAzureSecretByte(c byte) bool { return isWord(c) || c == '-' || c == '.' || c == '~' }

// findAzureClientSecrets finds Entra ID application client secrets: three characters, a
// digit and "Q~", then 31 to 34 characters of [A-Za-z0-9_~.-], anchored on the rare '~'.
func findAzureClientSecrets(src []byte, add func(span)) {
	eachByte(src, '~', func(t int) {
		q := t - 1
		start := q - 4
		if start < 0 || src[q] != 'Q' || src[q-1] < '0' || src[q-1] > '9' {
			return
		}
		for k := start; k < q-1; k++ {
			if !isAzureSecretByte(src[k]) {
				return
			}
		}
		if start > 0 && isAzureSecretByte(src[start-1]) {
			return
		}
		end := run(src, t+1, isAzureSecretByte)
		if n := end - t - 1; n >= 31 && n <= 34 {
			add(span{start: start, end: end, rule: RuleAzureClientSecret})
		}
	})
}
