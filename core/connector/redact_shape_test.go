package connector

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"
)

// Secrets without a known secret name (none is real).
const (
	testRandom40  = "q8Xz3LmN7pR2sT9vW4yB6cD1fG5hJ0kQ8aZ2xC4v" // 40 random base62 characters
	testAzure     = "Abc8Q~zYx9WvU8tS7rQ6pO5nM4lK3jI2hG1fE0dC"
	testCanaryish = "CANARY-x9y8z7w6"
)

// TestRedactByNameAndShape covers secrets under names that are not on the list of secret
// keys and secrets quoted in messages: they are found by the key names that suggest a
// secret, by the shape of the value, by vendor formats, and by the words before them.
func TestRedactByNameAndShape(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "more secret names",
			in:   `{"credential":"c1","passphrase":"p1","secret_value":"s1","db_credentials":"c2","Passphrase":"p2"}`,
			want: `{"credential":"[REDACTED:credential]","passphrase":"[REDACTED:password]","secret_value":"[REDACTED:secret]","db_credentials":"[REDACTED:credential]","Passphrase":"[REDACTED:password]"}`,
		},
		{
			name: "token-shaped values under names that suggest a secret",
			in:   `{"db_credential_x":"` + testCanaryish + `","authTokenOld":"Zq7-wPa2kLm","tokenHint":"Zq7-wPa2kLm","secret_type":"aws_key_2","token_url":"https://h/x?y=Zq7wPa2kLm","secretName":"prod/db/Zq7-wPa2"}`,
			want: `{"db_credential_x":"[REDACTED:token_shaped]","authTokenOld":"[REDACTED:token_shaped]","tokenHint":"Zq7-wPa2kLm","secret_type":"aws_key_2","token_url":"https://h/x?y=Zq7wPa2kLm","secretName":"prod/db/Zq7-wPa2"}`,
		},
		{
			name: "words and enums under names that suggest a secret are kept",
			in:   `{"passwordPolicies":"DisablePasswordExpiration","credentialType":"Password","tokenIssuancePolicy":"none","secretScanningStatus":"enabled","last_token_used":"2026-11-30T01:02:03Z","cred_owner":"alice@example.com"}`,
			want: `{"passwordPolicies":"DisablePasswordExpiration","credentialType":"Password","tokenIssuancePolicy":"none","secretScanningStatus":"enabled","last_token_used":"2026-11-30T01:02:03Z","cred_owner":"alice@example.com"}`,
		},
		{
			name: "random values under names that say nothing",
			in:   `{"value":"` + testRandom40 + `","items":["` + testRandom40 + `"],"note":"` + testRandom40 + ` is long"}`,
			want: `{"value":"[REDACTED:high_entropy]","items":["[REDACTED:high_entropy]"],"note":"` + testRandom40 + ` is long"}`,
		},
		{
			name: "identifiers and digests are kept",
			in: `{"sha":"6dcb09b5b57875f334f61aebed695e2e4193db5e","digest":"sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",` +
				`"id":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","value":"{3F2504E0-4F89-11D3-9A0C-0305E82C3301}","node_id":"MDEwOlJlcG9zaXRvcnkxMjk2MjY5",` +
				`"cursor":"Y3Vyc29yOnYyOpK5MjAyMS0wMi0yM1QxNDo0NjowOCswMTowMM4Ah8mf","other":"Y3Vyc29yOnYyOpK5MjAyMS0wMi0yM1QxNDo0NjowOCswMTowMM4Ah8mf",` +
				`"arn":"arn:aws:iam::123456789012:role/Admin8xYz","x":"arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",` +
				`"AccessKeyId":"AKIAIOSFODNN7EXAMPLE","UserId":"AIDAJQABLZS4A3QDU576Q","thumbprint":"9F0A7C3E2B1D4F6A8C0E2B4D6F8A0C2E4B6D8F0A",` +
				`"etag":"W/\"a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8\"","key":"2Sg8iYjAxxmI2LvUXpJjkYrMxURPc8r+dB7TJyvv1234","serial":"0A:1B:2C:3D:4E:5F:60:71",` +
				`"image":"ami-0abcdef1234567890","ARN":"arn:aws:secretsmanager:eu-west-1:100000000000:secret:prod/db-AbC1dE","p":"/repos/o/r/actions/secrets/TOKEN: x9y8z7w6v5","query":"/roleManagement/directory/roleDefinitions/62e90394-69f5-4237-9190-012177145e10","next":"http://127.0.0.1:1/v1.0/users?%24skiptoken=b2Zmc2V0OjEwMA&%24top=100","url":"https://graph.microsoft.com/v1.0/users?$skiptoken=RFNwdAIAAQAAACM6YWxpY2VAZXhhbXBsZS5jb20pVXNlcl85YjdkMmY","mac":"00-1A-2B-3C-4D-5E"}`,
		},
		{
			name: "vendor token formats anywhere",
			in:   `{"a":"x glpat-abcdefghij0123456789 y","b":"npm_abcdefghijABCDEFGHIJ0123456789abcdef","c":"AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q","d":"sk_live_abcdefghij0123456789AB","e":"hvs.CAESIabcdefghij0123456789ABC","f":"secret ` + testAzure + ` here"}`,
			want: `{"a":"x [REDACTED:gitlab_token] y","b":"[REDACTED:high_entropy]","c":"[REDACTED:google_api_key]","d":"[REDACTED:stripe_key]","e":"[REDACTED:vault_token]","f":"secret [REDACTED:azure_client_secret] here"}`,
		},
		{
			name: "secrets quoted in messages",
			in:   `{"error_description":"AADSTS7000215: client_secret ` + testCanaryish + ` is invalid.","m2":"password: hunter2","m3":"the token is 'Zq7-wPa2kLm'","m4":"Invalid client secret provided. Ensure the secret being sent is the client secret value, not the client secret ID.","m5":"secret_scanning is disabled; see https://docs.github.com/rest/secret-scanning"}`,
			want: `{"error_description":"AADSTS7000215: client_secret [REDACTED:secret] is invalid.","m2":"password: [REDACTED:password]","m3":"the token is '[REDACTED:token]'","m4":"Invalid client secret provided. Ensure the secret being sent is the client secret value, not the client secret ID.","m5":"secret_scanning is disabled; see https://docs.github.com/rest/secret-scanning"}`,
		},
		{
			name: "putty private keys",
			in:   `{"k":"PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nPrivate-Lines: 1\nAAAAIB"}`,
			want: `{"k":"[REDACTED:private_key]"}`,
		},
	}
	r := DefaultRedactor()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == "" {
				want = tt.in
			}
			got, _ := r.Redact("application/json", []byte(tt.in))
			if string(got) != want {
				t.Errorf("Redact:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestRedactKeepsPublicKeyMaterial: certificates and public keys are random-looking base64,
// but not secrets; a private key in the same encoding is.
func TestRedactKeepsPublicKeyMaterial(t *testing.T) {
	for seed := range byte(20) {
		testPublicKeyMaterial(t, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed * 13}, ed25519.SeedSize)))
	}
}

func testPublicKeyMaterial(t *testing.T, priv ed25519.PrivateKey) {
	pub := priv.Public()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"}, NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<31, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(pub)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(priv)
	b64 := base64.StdEncoding.EncodeToString
	in := `{"value":"` + b64(der) + `","spki":"` + b64(spki) + `","blob":"` + b64(pkcs8) + `"}`
	got, _ := DefaultRedactor().Redact("application/json", []byte(in))
	if !strings.Contains(string(got), b64(der)) || !strings.Contains(string(got), b64(spki)) {
		t.Errorf("public key material redacted: %s", got)
	}
	if strings.Contains(string(got), b64(pkcs8)) {
		t.Errorf("a base64 private key survived: %s", got)
	}
}

func TestRedactStringMessages(t *testing.T) {
	r := DefaultRedactor()
	for in, want := range map[string]string{
		"oauth2: client_secret " + testCanaryish + " is invalid":    "oauth2: client_secret [REDACTED:secret] is invalid",
		"GET /x: 401 Bad credentials []":                            "GET /x: 401 Bad credentials []",
		"invalid password 'Tr0ub4dor&3' for key":                    "invalid password '[REDACTED:password]' for key",
		"the token expired at 2026-11-30T00:00:00Z":                 "the token expired at 2026-11-30T00:00:00Z",
		"credential 3f2504e0-4f89-11d3-9a0c-0305e82c3301 not found": "credential 3f2504e0-4f89-11d3-9a0c-0305e82c3301 not found",
	} {
		if got := r.RedactString(in); got != want {
			t.Errorf("RedactString(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}
