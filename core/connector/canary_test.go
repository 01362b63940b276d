package connector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// canaryMark is in every planted secret, in the part that must be removed, and nowhere
// else: finding it anywhere means a secret leaked.
const canaryMark = "CANARY"

// Canary secrets in the formats the redactor must recognise.
var (
	canaryPassword   = "CANARY-password-1"
	canaryToken      = "CANARY-token-2"
	canaryGitHub     = "ghp_CANARY" + strings.Repeat("0", 30)
	canaryJWT        = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.CANARYsignature_abc"
	canaryPEM        = "-----BEGIN PRIVATE KEY-----\nMIIEvCANARYQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
	canaryAWSSecret  = "CANARYsecretCANARYsecretCANARYsecret1234" // 40 characters
	canarySession    = "CANARYsessionTokenFwoGZXIvYXdzEBY"
	canarySlack      = "xoxb-CANARY-1234567890-abcdef"
	canaryURL        = "https://b.s3.amazonaws.com/k?X-Amz-Signature=CANARYsig0123&X-Amz-Date=1"
	canarySAS        = "https://a.blob.core.windows.net/c?sv=2022&sig=CANARYsas%3D"
	canaryConnString = "AccountName=a;AccountKey=CANARYkey==;EndpointSuffix=core.windows.net"
	canaryURLPass    = "postgres://app:CANARYpw@db.internal/app"
	canaryBearer     = "CANARYbearer0123456789"
	canaryCookie     = "session=CANARYcookie"
	canaryQuery      = "CANARYquerytoken"
	canaryQuerySig   = "CANARYquerysig"
)

// canaryUpstream plants canaries in JSON, XML, text and PEM bodies, in response headers,
// and echoes what the request carried (as a careless upstream's error message would).
func canaryUpstream() http.Handler {
	mux := http.NewServeMux()
	plantHeaders := func(w http.ResponseWriter) {
		w.Header().Set("Set-Cookie", canaryCookie)
		w.Header().Set("X-Amz-Security-Token", canarySession)
		w.Header().Set("WWW-Authenticate", "Bearer "+canaryBearer)
		w.Header().Set("X-GitHub-Request-Id", canaryGitHub)
	}
	mux.HandleFunc("GET /json", func(w http.ResponseWriter, r *http.Request) {
		plantHeaders(w)
		w.Header().Set("Content-Type", "application/json")
		doc := map[string]any{
			"items": []map[string]any{
				{"id": 1, "password": canaryPassword, "access_token": canaryToken},
				{"id": 2, "description": "rotate " + canaryGitHub + " and " + canarySlack, "jwt": "id " + canaryJWT},
			},
			"key_pem":               canaryPEM,
			"download":              canaryURL,
			"blob":                  canarySAS,
			"storage":               map[string]string{"connection": canaryConnString},
			"db":                    canaryURLPass,
			"Credentials":           map[string]string{"AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "SecretAccessKey": canaryAWSSecret, "SessionToken": canarySession},
			"@odata.nextLink":       "https://graph.microsoft.com/v1.0/users?$skiptoken=page2",
			"MinimumPasswordLength": 14,
		}
		json.NewEncoder(w).Encode(doc)
	})
	mux.HandleFunc("POST /xml", func(w http.ResponseWriter, r *http.Request) {
		plantHeaders(w)
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken></Credentials><Note>%s</Note></AssumeRoleResult></AssumeRoleResponse>`,
			canaryAWSSecret, canarySession, strings.ReplaceAll(canaryURL, "&", "&amp;"))
	})
	mux.HandleFunc("GET /text", func(w http.ResponseWriter, r *http.Request) {
		plantHeaders(w)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = %s\naws_session_token = %s\n%s\n%s\nPassword=%s;\n",
			canaryAWSSecret, canarySession, canaryConnString, canaryURLPass, canaryPassword)
	})
	mux.HandleFunc("GET /pem", func(w http.ResponseWriter, r *http.Request) {
		plantHeaders(w)
		w.Header().Set("Content-Type", "application/x-pem-file")
		io.WriteString(w, canaryPEM+"\n")
	})
	mux.HandleFunc("GET /echo", func(w http.ResponseWriter, r *http.Request) {
		plantHeaders(w)
		// A careless upstream quotes the request back in its error.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{
			"message":       "bad credentials: " + r.Header.Get("Authorization"),
			"url":           r.URL.String(),
			"cookie":        r.Header.Get("Cookie"),
			"session_token": r.Header.Get("X-Amz-Security-Token"),
		})
	})
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte(canaryPassword), 1000))
	})
	return mux
}

// leakCheck collects every place a secret could end up and reports canaries found there.
type leakCheck struct {
	t      *testing.T
	places map[string]string
}

func (l *leakCheck) add(place, text string) { l.places[place] += text + "\n" }

func (l *leakCheck) assertClean() {
	l.t.Helper()
	all := []string{canaryPassword, canaryToken, canaryGitHub, canaryJWT, canaryPEM, canaryAWSSecret, canarySession,
		canarySlack, canaryURL, canarySAS, canaryConnString, canaryURLPass, canaryBearer, canaryCookie, canaryQuery, canaryQuerySig}
	for place, text := range l.places {
		if strings.Contains(text, canaryMark) {
			i := strings.Index(text, canaryMark)
			l.t.Errorf("canary leaked into %s: …%s…", place, text[max(0, i-60):min(len(text), i+40)])
		}
		for _, c := range all {
			if strings.Contains(text, c) {
				l.t.Errorf("canary %q leaked into %s", c, place)
			}
		}
	}
}

func TestCanariesNeverLeak(t *testing.T) {
	h := simkit.Wrap(canaryUpstream(), simkit.Options{})
	srv, err := simkit.Serve(h)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	objects := mem.New()
	var stats statsLog
	tr := connector.NewTransport(nil, connector.TransportOptions{Sink: objects, Logger: logger, MaxBody: 4096, Observe: stats.observe})
	client := &http.Client{Transport: tr}
	leaks := &leakCheck{t: t, places: map[string]string{}}

	query := url.Values{"token": {canaryQuery}, "X-Amz-Signature": {canaryQuerySig}, "page": {"2"}}.Encode()
	do := func(ctx context.Context, method, path string) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, method, srv.URL+path+"?"+query, nil)
		req.Header.Set("Authorization", "Bearer "+canaryBearer)
		req.Header.Set("Cookie", canaryCookie)
		req.Header.Set("X-Amz-Security-Token", canarySession)
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}

	ctx, rec := connector.Record(context.Background())
	for _, c := range []struct{ method, path string }{
		{"GET", "/json"}, {"POST", "/xml"}, {"GET", "/text"}, {"GET", "/pem"}, {"GET", "/echo"},
	} {
		body, err := do(ctx, c.method, c.path)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		// What the SDK sees becomes documents: it must be redacted too.
		leaks.add("the body handed to the caller of "+c.path, body)
		if c.path == "/json" && !json.Valid([]byte(body)) {
			t.Errorf("redacted JSON body is invalid: %s", body)
		}
	}

	// Failures: a body over the limit, an unrecorded request, a failing sink, a dead server.
	if _, err := do(ctx, "GET", "/big"); err == nil {
		t.Error("oversized body accepted")
	} else {
		leaks.add("the error of an oversized body", connector.DefaultRedactor().RedactError(err).Error())
		leaks.add("the transport's own error", transportError(err).Error())
	}
	if body, err := do(context.Background(), "GET", "/pem"); err != nil {
		t.Fatal(err)
	} else if !strings.Contains(body, canaryMark) {
		t.Error("unrecorded request was altered: the canary should pass through untouched to the caller")
	}
	failing := &http.Client{Transport: connector.NewTransport(nil, connector.TransportOptions{Sink: failingSink{errors.New("bucket " + canaryURLPass + " unavailable")}, Logger: logger})}
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/json?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+canaryBearer)
	if _, err := failing.Do(req); err == nil {
		t.Error("failing sink did not fail the request")
	} else {
		leaks.add("the error of a failing sink", connector.DefaultRedactor().RedactError(err).Error())
		leaks.add("the transport's own sink error", transportError(err).Error())
	}
	dead := simkit.Wrap(canaryUpstream(), simkit.Options{Faults: []simkit.Fault{{Kind: simkit.Truncate}}})
	deadSrv, _ := simkit.Serve(dead)
	req, _ = http.NewRequestWithContext(ctx, "GET", deadSrv.URL+"/json?"+query, nil)
	if _, err := client.Do(req); err == nil {
		t.Error("truncated body accepted")
	} else {
		leaks.add("the error of a truncated body", connector.DefaultRedactor().RedactError(err).Error())
		leaks.add("the transport's own read error", transportError(err).Error())
	}
	deadSrv.Close()

	xs := rec.Exchanges()
	bodies := 0
	for _, x := range xs {
		if x.Body.Digest.IsZero() {
			continue // a failed attempt: big, failing sink, truncated
		}
		bodies++
		if len(x.Redactions) == 0 {
			t.Errorf("exchange %s %s lists no redactions", x.Method, x.URL)
		}
	}
	if len(xs) != 8 || bodies != 5 {
		t.Errorf("recorded %d exchanges, %d with a body; want 8, 5 (json, xml, text, pem, echo; big, sink, truncated without)", len(xs), bodies)
	}
	recorded, _ := json.Marshal(xs)
	leaks.add("the recorded exchanges", string(recorded))
	leaks.add("the logs", logs.String())
	objects.List(ctx, func(info store.Info) error {
		b, err := store.GetBytes(ctx, objects, info.Digest)
		if err != nil {
			t.Fatal(err)
		}
		leaks.add("stored object "+info.Digest.String(), string(b))
		return nil
	})
	leaks.assertClean()
	if !strings.Contains(logs.String(), "upstream exchange") {
		t.Error("nothing was logged: the log check proves nothing")
	}
	if len(leaks.places) < 10 {
		t.Errorf("only %d places checked", len(leaks.places))
	}
	// The evidence is still there: identifiers and structure survive redaction.
	var first map[string]any
	b, _ := store.GetBytes(ctx, objects, xs[0].Body.Digest)
	if err := json.Unmarshal(b, &first); err != nil {
		t.Fatal(err)
	}
	if first["Credentials"].(map[string]any)["AccessKeyId"] != "ASIAIOSFODNN7EXAMPLE" || first["MinimumPasswordLength"] != float64(14) {
		t.Errorf("redaction removed evidence: %s", b)
	}
	if !strings.Contains(xs[0].URL, "page=2") || !strings.Contains(xs[0].URL, "token=REDACTED") {
		t.Errorf("recorded URL %s lost its shape", xs[0].URL)
	}
}

// transportError returns the transport's error inside http.Client's *url.Error.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
