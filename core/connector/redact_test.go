package connector

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence"
)

// Realistic secrets for the redaction tables (none is real).
const (
	testAWSSecret   = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testGitHubPAT   = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
	testFineGrained = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"
	testJWT         = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	testSlack       = "xoxb-2048-4096-abcdefghijklmnop"
	testPEM         = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----"
	testCert        = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUEXAMPLE\n-----END CERTIFICATE-----"
)

func red(rule, loc string, n int) evidence.Redaction {
	return evidence.Redaction{Rule: rule, Location: loc, Count: n}
}

func TestRedact(t *testing.T) {
	jsonPEM, _ := json.Marshal(testPEM)
	jsonCert, _ := json.Marshal(testCert)
	tests := []struct {
		name        string
		contentType string
		in          string
		want        string
		reds        []evidence.Redaction
	}{
		{
			name:        "json secret keys",
			contentType: "application/json",
			in:          `{"user":"alice","password":"hunter2","client_secret":"abc","n":1}`,
			want:        `{"user":"alice","password":"[REDACTED:password]","client_secret":"[REDACTED:client_secret]","n":1}`,
			reds:        []evidence.Redaction{red("password", "$.password", 1), red("client_secret", "$.client_secret", 1)},
		},
		{
			name:        "json paths into arrays",
			contentType: "application/vnd.github+json",
			in:          `{"items":[{"id":1,"token":"a1"},{"id":2,"token":"b2"}]}`,
			want:        `{"items":[{"id":1,"token":"[REDACTED:token]"},{"id":2,"token":"[REDACTED:token]"}]}`,
			reds:        []evidence.Redaction{red("token", "$.items[0].token", 1), red("token", "$.items[1].token", 1)},
		},
		{
			name:        "sts credentials keep the access key id",
			contentType: "application/x-amz-json-1.1",
			in:          `{"Credentials":{"AccessKeyId":"ASIAIOSFODNN7EXAMPLE","SecretAccessKey":"` + testAWSSecret + `","SessionToken":"FwoGZXIvYXdzEBY","Expiration":1}}`,
			want:        `{"Credentials":{"AccessKeyId":"ASIAIOSFODNN7EXAMPLE","SecretAccessKey":"[REDACTED:aws_secret_access_key]","SessionToken":"[REDACTED:aws_session_token]","Expiration":1}}`,
			reds: []evidence.Redaction{
				red("aws_secret_access_key", "$.Credentials.SecretAccessKey", 1),
				red("aws_session_token", "$.Credentials.SessionToken", 1),
			},
		},
		{
			name:        "pagination and idempotency tokens are kept",
			contentType: "application/json",
			in:          `{"NextToken":"abc","nextPageToken":"def","ClientToken":"x","@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$skiptoken=X"}`,
			want:        `{"NextToken":"abc","nextPageToken":"def","ClientToken":"x","@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$skiptoken=X"}`,
		},
		{
			name:        "masked, empty and null secrets are not redactions",
			contentType: "application/json",
			in:          `{"secret":"********","password":"","client_secret":null,"token":"[REDACTED:token]","hasPassword":true}`,
			want:        `{"secret":"********","password":"","client_secret":null,"token":"[REDACTED:token]","hasPassword":true}`,
		},
		{
			name:        "secret-looking names that are not secrets",
			contentType: "application/json",
			in:          `{"PasswordLastUsed":"2024-01-01","MinimumPasswordLength":14,"passwordPolicies":"DisablePasswordExpiration","secrets":[{"name":"X"}],"secret_type":"aws"}`,
			want:        `{"PasswordLastUsed":"2024-01-01","MinimumPasswordLength":14,"passwordPolicies":"DisablePasswordExpiration","secrets":[{"name":"X"}],"secret_type":"aws"}`,
		},
		{
			name:        "key suffixes, escaped keys and odd keys",
			contentType: "application/json",
			in:          `{"Variables":{"DB_PASSWORD":"p","githubToken":"t"},"pass\u0077ord":"q","@odata.client-secret":"s"}`,
			want:        `{"Variables":{"DB_PASSWORD":"[REDACTED:password]","githubToken":"[REDACTED:token]"},"pass\u0077ord":"[REDACTED:password]","@odata.client-secret":"[REDACTED:client_secret]"}`,
			reds: []evidence.Redaction{
				red("password", "$.Variables.DB_PASSWORD", 1), red("token", "$.Variables.githubToken", 1),
				red("password", "$.password", 1), red("client_secret", "$['@odata.client-secret']", 1),
			},
		},
		{
			name:        "arrays under a secret key",
			contentType: "application/json",
			in:          `{"token":["a","b",3]}`,
			want:        `{"token":["[REDACTED:token]","[REDACTED:token]",3]}`,
			reds:        []evidence.Redaction{red("token", "$.token[0]", 1), red("token", "$.token[1]", 1)},
		},
		{
			name:        "free text inside json strings",
			contentType: "application/json",
			in:          `{"description":"use ` + testGitHubPAT + ` or ` + testFineGrained + `","note":"jwt ` + testJWT + ` slack ` + testSlack + `"}`,
			want:        `{"description":"use [REDACTED:github_token] or [REDACTED:github_token]","note":"jwt [REDACTED:jwt] slack [REDACTED:slack_token]"}`,
			reds:        []evidence.Redaction{red("github_token", "$.description", 2), red("jwt", "$.note", 1), red("slack_token", "$.note", 1)},
		},
		{
			name:        "private keys in json, certificates kept",
			contentType: "application/json",
			in:          `{"pem":` + string(jsonPEM) + `,"cert":` + string(jsonCert) + `}`,
			want:        `{"pem":"[REDACTED:private_key]","cert":` + string(jsonCert) + `}`,
			reds:        []evidence.Redaction{red("private_key", "$.pem", 1)},
		},
		{
			name:        "presigned and sas urls in json",
			contentType: "application/json",
			in:          `{"s3":"https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abcdef0123&X-Amz-Date=1","blob":"https://a.blob.core.windows.net/c/f?sv=2022-11-02\u0026sig=Zm9v%2Bbar%3D\u0026se=2030"}`,
			want:        `{"s3":"https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=[REDACTED:presigned_url_signature]&X-Amz-Date=1","blob":"https://a.blob.core.windows.net/c/f?sv=2022-11-02\u0026sig=[REDACTED:azure_sas_signature]\u0026se=2030"}`,
			reds:        []evidence.Redaction{red("presigned_url_signature", "$.s3", 1), red("azure_sas_signature", "$.blob", 1)},
		},
		{
			name:        "connection string key is redacted whole",
			contentType: "application/json",
			in:          `{"connectionString":"AccountName=a;AccountKey=abc=="}`,
			want:        `{"connectionString":"[REDACTED:connection_string]"}`,
			reds:        []evidence.Redaction{red("connection_string", "$.connectionString", 1)},
		},
		{
			name:        "invalid json falls back to free text",
			contentType: "application/json",
			in:          `{"password":"x", token=abc`,
			want:        `{"password":"x", token=[REDACTED:token]`,
			reds:        []evidence.Redaction{red("token", "body", 1)},
		},
		{
			name:        "xml sts assume role",
			contentType: "text/xml",
			in: `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>` +
				`<AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId><SecretAccessKey>` + testAWSSecret + `</SecretAccessKey>` +
				`<SessionToken>
 FwoGZXIvYXdzEBY </SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult>` +
				`<ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></AssumeRoleResponse>`,
			want: `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>` +
				`<AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId><SecretAccessKey>[REDACTED:aws_secret_access_key]</SecretAccessKey>` +
				`<SessionToken>
 [REDACTED:aws_session_token] </SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult>` +
				`<ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></AssumeRoleResponse>`,
			reds: []evidence.Redaction{
				red("aws_secret_access_key", "/AssumeRoleResponse/AssumeRoleResult/Credentials/SecretAccessKey", 1),
				red("aws_session_token", "/AssumeRoleResponse/AssumeRoleResult/Credentials/SessionToken", 1),
			},
		},
		{
			// Flags whose names end like secrets must stay parseable booleans for the SDK.
			name:        "xml iam password policy flags are not secrets",
			contentType: "text/xml",
			in: `<GetAccountPasswordPolicyResponse><GetAccountPasswordPolicyResult><PasswordPolicy>` +
				`<AllowUsersToChangePassword>true</AllowUsersToChangePassword><MinimumPasswordLength>14</MinimumPasswordLength>` +
				`<RequireSymbols>false</RequireSymbols></PasswordPolicy></GetAccountPasswordPolicyResult></GetAccountPasswordPolicyResponse>`,
			want: `<GetAccountPasswordPolicyResponse><GetAccountPasswordPolicyResult><PasswordPolicy>` +
				`<AllowUsersToChangePassword>true</AllowUsersToChangePassword><MinimumPasswordLength>14</MinimumPasswordLength>` +
				`<RequireSymbols>false</RequireSymbols></PasswordPolicy></GetAccountPasswordPolicyResult></GetAccountPasswordPolicyResponse>`,
		},
		{
			name:        "json boolean strings under secret-looking names stay",
			contentType: "application/json",
			in:          `{"allowUsersToChangePassword":"True","user_password":"hunter2-canary"}`,
			want:        `{"allowUsersToChangePassword":"True","user_password":"[REDACTED:password]"}`,
			reds:        []evidence.Redaction{red("password", "$.user_password", 1)},
		},
		{
			name:        "xml prefixes, cdata, attributes, comments and pagination",
			contentType: "application/xml; charset=utf-8",
			in:          `<?xml version="1.0"?><!-- token=c1 --><r:Root><r:Password><![CDATA[p<w]]></r:Password><Marker>m</Marker><Link href="https://h/?sig=s1"/><Note>key ` + testGitHubPAT + `</Note></r:Root>`,
			want:        `<?xml version="1.0"?><!-- token=[REDACTED:token] --><r:Root><r:Password><![CDATA[[REDACTED:password]]]></r:Password><Marker>m</Marker><Link href="https://h/?sig=[REDACTED:azure_sas_signature]"/><Note>key [REDACTED:github_token]</Note></r:Root>`,
			reds: []evidence.Redaction{
				red("token", "body", 1), red("password", "/r:Root/r:Password", 1),
				red("azure_sas_signature", "/r:Root/Link", 1), red("github_token", "/r:Root/Note", 1),
			},
		},
		{
			name:        "text: connection strings and ini files",
			contentType: "text/plain",
			in:          "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=YWJj+ZGVm==;EndpointSuffix=core.windows.net\nServer=db;User Id=sa;Password=S3cr3t!;\n[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = " + testAWSSecret + "\n",
			want:        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=[REDACTED:connection_string];EndpointSuffix=core.windows.net\nServer=db;User Id=sa;Password=[REDACTED:password];\n[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = [REDACTED:aws_secret_access_key]\n",
			reds:        []evidence.Redaction{red("connection_string", "body", 1), red("password", "body", 1), red("aws_secret_access_key", "body", 1)},
		},
		{
			name:        "text: key pairs, yaml, urls, bearer, webhooks",
			contentType: "",
			in:          "AKIAIOSFODNN7EXAMPLE," + testAWSSecret + "\nalone AKIAIOSFODNN7EXAMPLE\nSecretAccessKey: " + testAWSSecret + "\npostgres://u:pa55@db/x\nAuthorization: Bearer abcdefgh.ijk\nsent Bearer abcdefgh.ijk\nSet-Cookie: s=1; Secure\nhttps://hooks.slack.com/services/T0/B0/XXXX\n" + testPEM + "\n",
			want:        "AKIAIOSFODNN7EXAMPLE,[REDACTED:aws_secret_access_key]\nalone AKIAIOSFODNN7EXAMPLE\nSecretAccessKey: [REDACTED:aws_secret_access_key]\npostgres://u:[REDACTED:url_password]@db/x\nAuthorization: [REDACTED:authorization]\nsent Bearer [REDACTED:bearer_token]\nSet-Cookie: [REDACTED:cookie]\nhttps://hooks.slack.com/services/[REDACTED:slack_webhook]\n[REDACTED:private_key]\n",
			reds: []evidence.Redaction{
				red("aws_secret_access_key", "body", 2), red("url_password", "body", 1), red("authorization", "body", 1),
				red("bearer_token", "body", 1), red("cookie", "body", 1),
				red("slack_webhook", "body", 1), red("private_key", "body", 1),
			},
		},
		{
			// The header value and the key overlap: both must go, not just the first found.
			name: "text: private key after Authorization on the same line",
			in:   "Authorization: Basic dXNlcjpw " + testPEM + "\nnext line",
			want: "Authorization: [REDACTED:private_key]\nnext line",
			reds: []evidence.Redaction{red("private_key", "body", 1)},
		},
		{
			name:        "json: private key after Authorization in one string",
			contentType: "application/json",
			in:          `{"message":"Authorization: Basic eDp5 ` + strings.ReplaceAll(testPEM, "\n", `\n`) + `","n":1}`,
			want:        `{"message":"Authorization: [REDACTED:private_key]","n":1}`,
			reds:        []evidence.Redaction{red("private_key", "$.message", 1)},
		},
		{
			name:        "xml: private key after Authorization in one text node",
			contentType: "text/xml",
			in:          "<Error><Message>Authorization: x " + testPEM + "</Message></Error>",
			want:        "<Error><Message>Authorization: [REDACTED:private_key]</Message></Error>",
			reds:        []evidence.Redaction{red("private_key", "/Error/Message", 1)},
		},
		{
			name: "text: truncated private key is redacted to the end",
			in:   "x -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA",
			want: "x [REDACTED:private_key]",
			reds: []evidence.Redaction{red("private_key", "body", 1)},
		},
		{
			name: "text: nothing to redact",
			in:   "ok = fine; tokens are described in RFC 6750; AKIA is a prefix; eyJ alone; ghp_short",
			want: "ok = fine; tokens are described in RFC 6750; AKIA is a prefix; eyJ alone; ghp_short",
		},
	}
	r := DefaultRedactor()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reds := r.Redact(tt.contentType, []byte(tt.in))
			if string(got) != tt.want {
				t.Errorf("Redact:\n got %s\nwant %s", got, tt.want)
			}
			if !reflect.DeepEqual(reds, tt.reds) {
				t.Errorf("redactions:\n got %+v\nwant %+v", reds, tt.reds)
			}
			if json.Valid([]byte(tt.in)) && !json.Valid(got) {
				t.Errorf("redacting valid JSON produced invalid JSON: %s", got)
			}
			again, _ := r.Redact(tt.contentType, got)
			if string(again) != string(got) {
				t.Errorf("redaction is not idempotent:\n once %s\ntwice %s", got, again)
			}
		})
	}
}

func TestRedactUnchangedReturnsInput(t *testing.T) {
	in := []byte(`{"a":"b"}`)
	out, reds := DefaultRedactor().Redact("application/json", in)
	if &out[0] != &in[0] || reds != nil {
		t.Fatalf("unchanged body was copied or reported redactions: %v", reds)
	}
}

func TestRedactJSONDocument(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
	}{
		{name: "redacts", in: `{"a":[{"password":"x"}]}`, want: `{"a":[{"password":"[REDACTED:password]"}]}`},
		{name: "scalars", in: ` 12.5e-3 `, want: ` 12.5e-3 `},
		{name: "empty containers", in: `{"a":{},"b":[],"c":[{}]}`, want: `{"a":{},"b":[],"c":[{}]}`},
		{name: "escaped quotes", in: `{"s":"a\\\"b","token":"q\"r"}`, want: `{"s":"a\\\"b","token":"[REDACTED:token]"}`},
		{name: "empty", in: ``, wantErr: "unexpected end"},
		{name: "trailing data", in: `{} {}`, wantErr: "data after the JSON value"},
		{name: "unterminated string", in: `{"a":"b}`, wantErr: "unterminated string"},
		{name: "missing colon", in: `{"a" 1}`, wantErr: "want ':'"},
		{name: "bad number", in: `[01]`, wantErr: "want ',' or ']'"},
		{name: "bad exponent", in: `[1e]`, wantErr: "invalid number"},
		{name: "bad literal", in: `[tru]`, wantErr: "invalid literal"},
		{name: "trailing comma", in: `[1,]`, wantErr: "unexpected"},
		{name: "too deep", in: strings.Repeat("[", maxJSONDepth+2) + strings.Repeat("]", maxJSONDepth+2), wantErr: "nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := DefaultRedactor().RedactJSONDocument([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRedactError(t *testing.T) {
	base := &GapError{Status: evidence.StatusForbidden, Err: errorString(`Get "https://h/x?token=s3cr3t&page=2": denied`)}
	err := DefaultRedactor().RedactError(base)
	if strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "page=2") {
		t.Errorf("RedactError = %q", err)
	}
	if GapStatus(err) != evidence.StatusForbidden {
		t.Errorf("GapStatus through RedactError = %s, want forbidden", GapStatus(err))
	}
	plain := errorString("nothing secret")
	if DefaultRedactor().RedactError(plain) != error(plain) {
		t.Error("an error without secrets was wrapped")
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// FuzzRedactJSONDocument checks that redaction never breaks valid JSON and accepts every
// document json.Valid accepts.
func FuzzRedactJSONDocument(f *testing.F) {
	for _, s := range []string{`{"password":"x"}`, `[1,"ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",null]`, `{"a\"b":{"token":["x"]}}`, `"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.x"`, `{"u":"https://a:b@c/?sig=d\u0026e"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _, err := DefaultRedactor().RedactJSONDocument(in)
		if !json.Valid(in) {
			return
		}
		if err != nil {
			t.Fatalf("valid JSON %q rejected: %v", in, err)
		}
		if !json.Valid(out) {
			t.Fatalf("redacting %q produced invalid JSON %q", in, out)
		}
	})
}
