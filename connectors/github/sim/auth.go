package sim

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// authenticate checks the request's credentials and the primary rate limit, and sets the
// rate-limit headers GitHub sends on every response. It reports whether to go on.
func (s *Sim) authenticate(w http.ResponseWriter, r *http.Request) bool {
	tok := bearer(r)
	if tok == "" || !s.validToken(tok) {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})
		return false
	}
	if r.URL.Path == "/rate_limit" {
		return true // free, as on GitHub
	}
	s.mu.Lock()
	now := s.opts.Now()
	if s.windowStart.IsZero() || !now.Before(s.windowStart.Add(s.opts.RateWindow)) {
		s.windowStart, s.used = now, 0
	}
	limit := s.opts.RateLimit
	enforced := limit > 0
	if !enforced {
		limit = 15000
	}
	exhausted := enforced && s.used >= limit
	if !exhausted {
		s.used++
	}
	remaining := max(limit-s.used, 0)
	if !enforced {
		remaining = max(remaining, 1)
	}
	reset := s.windowStart.Add(s.opts.RateWindow)
	used := s.used
	s.mu.Unlock()

	h := w.Header()
	h.Set("X-Ratelimit-Limit", strconv.Itoa(limit))
	h.Set("X-Ratelimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-Ratelimit-Used", strconv.Itoa(used))
	h.Set("X-Ratelimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-Ratelimit-Resource", "core")
	if exhausted {
		writeJSON(w, http.StatusForbidden, map[string]any{
			"message":           "API rate limit exceeded for installation. If you reach out to GitHub Support for help, please include the request ID.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits",
		})
		return false
	}
	return true
}

func bearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	for _, p := range []string{"Bearer ", "bearer ", "token "} {
		if strings.HasPrefix(a, p) {
			return strings.TrimSpace(a[len(p):])
		}
	}
	return ""
}

func (s *Sim) validToken(tok string) bool {
	s.mu.Lock()
	exp, minted := s.tokens[tok]
	now := s.opts.Now()
	s.mu.Unlock()
	switch {
	case minted:
		return now.Before(exp)
	case s.opts.Token != "":
		return tok == s.opts.Token
	default:
		return !strings.HasPrefix(tok, "ghs_")
	}
}

// accessTokens implements POST /app/installations/{id}/access_tokens.
func (s *Sim) accessTokens(w http.ResponseWriter, r *http.Request) {
	app := s.opts.App
	if app == nil {
		writeJSON(w, http.StatusNotFound, notFound)
		return
	}
	if err := verifyJWT(bearer(r), app, s.opts.Now()); err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "A JSON web token could not be decoded: " + err.Error(), "documentation_url": "https://docs.github.com/rest"})
		return
	}
	if r.PathValue("id") != strconv.FormatInt(app.InstallationID, 10) {
		writeJSON(w, http.StatusNotFound, notFound)
		return
	}
	s.mu.Lock()
	s.minted++
	tok := fmt.Sprintf("ghs_sim%06dinstallationtoken%04d", app.InstallationID%1_000_000, s.minted)
	exp := s.opts.Now().Add(app.TokenTTL).UTC().Truncate(time.Second)
	s.tokens[tok] = exp
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{
		"token": tok, "expires_at": exp.Format(time.RFC3339), "repository_selection": "all",
		"permissions": map[string]string{"administration": "read", "contents": "read", "metadata": "read", "members": "read",
			"organization_administration": "read", "organization_hooks": "read", "security_events": "read",
			"secret_scanning_alerts": "read", "vulnerability_alerts": "read"},
	})
}

// verifyJWT checks an App JWT as GitHub does: RS256 by the App's key, issued by the App,
// not expired, not issued in the future, at most ten minutes long.
func verifyJWT(token string, app *App, now time.Time) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	dec := base64.RawURLEncoding
	hb, err := dec.DecodeString(parts[0])
	if err != nil {
		return errors.New("bad header")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hb, &header) != nil || header.Alg != "RS256" {
		return errors.New("alg must be RS256")
	}
	sig, err := dec.DecodeString(parts[2])
	if err != nil {
		return errors.New("bad signature encoding")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(app.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		return errors.New("signature does not verify")
	}
	cb, err := dec.DecodeString(parts[1])
	if err != nil {
		return errors.New("bad claims")
	}
	var c struct {
		IAT int64           `json:"iat"`
		EXP int64           `json:"exp"`
		ISS json.RawMessage `json:"iss"`
	}
	if err := json.Unmarshal(cb, &c); err != nil {
		return errors.New("bad claims")
	}
	iss := strings.Trim(string(c.ISS), `"`)
	if iss != strconv.FormatInt(app.ID, 10) {
		return fmt.Errorf("'Issuer' claim ('iss') must be the App id")
	}
	iat, exp := time.Unix(c.IAT, 0), time.Unix(c.EXP, 0)
	switch {
	case !now.Before(exp):
		return errors.New("'Expiration time' claim ('exp') is too far in the past")
	case iat.After(now.Add(time.Minute)):
		return errors.New("'Issued at' claim ('iat') must be an Integer representing a time in the past")
	case exp.Sub(iat) > 11*time.Minute:
		return errors.New("'Expiration time' claim ('exp') is too far in the future")
	}
	return nil
}
