package connector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// stsSim answers the two STS query-API actions the test calls, planting canaries in the
// AssumeRole credentials. The first AssumeRole is throttled, as AWS does (HTTP 400 with
// code Throttling), so the SDK's own retryer retries through the transport.
type stsSim struct{ assumeCalls atomic.Int32 }

func (s *stsSim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", fmt.Sprintf("req-%s-%d", r.Form.Get("Action"), s.assumeCalls.Load()))
	switch r.Form.Get("Action") {
	case "GetCallerIdentity":
		fmt.Fprint(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>`+
			`<Arn>arn:aws:iam::123456789012:user/auditor</Arn><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account>`+
			`</GetCallerIdentityResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
	case "AssumeRole":
		if s.assumeCalls.Add(1) == 1 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>t1</RequestId></ErrorResponse>`)
			return
		}
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>`+
			`<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/audit/exhibit</Arn><AssumedRoleId>AROAEXAMPLE:exhibit</AssumedRoleId></AssumedRoleUser>`+
			`<Credentials><AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken>`+
			`<Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult>`+
			`<ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></AssumeRoleResponse>`, canaryAWSSecret, canarySession)
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
	}
}

// TestAWSSDKThroughTransport runs the real AWS SDK STS client through the capturing
// transport: the SDK parses the redacted XML, its retryer's attempts are each recorded,
// and neither the planted credentials nor the caller's own secret key leak anywhere.
func TestAWSSDKThroughTransport(t *testing.T) {
	sim := &stsSim{}
	srv, err := simkit.Serve(simkit.Wrap(sim, simkit.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	var logs bytes.Buffer
	objects := mem.New()
	var stats statsLog
	tr := connector.NewTransport(nil, connector.TransportOptions{
		Sink: objects, Observe: stats.observe,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	client := sts.NewFromConfig(aws.Config{
		Region:       "eu-central-1",
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   &http.Client{Transport: tr},
		// The caller's own secret key is a canary too: SigV4 must not carry it anywhere.
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "CANARYcallerSecretCANARYcallerSecret0000", "CANARYcallerSession"),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = connector.DefaultLimits.MaxAttempts
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		},
	})

	ctx, rec := connector.Record(context.Background())
	id, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Account) != "123456789012" {
		t.Errorf("account %q", aws.ToString(id.Account))
	}
	out, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/audit"), RoleSessionName: aws.String("exhibit")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.Credentials.SecretAccessKey); got != "[REDACTED:aws_secret_access_key]" {
		t.Errorf("SDK parsed SecretAccessKey %q, want the redaction placeholder", got)
	}
	if got := aws.ToString(out.Credentials.AccessKeyId); got != "ASIAIOSFODNN7EXAMPLE" {
		t.Errorf("SDK parsed AccessKeyId %q: the identifier must survive", got)
	}

	xs := rec.Exchanges()
	if len(xs) != 3 {
		t.Fatalf("recorded %d exchanges, want 3 (identity, throttled attempt, retry)", len(xs))
	}
	if xs[1].Status != http.StatusBadRequest || xs[2].Status != http.StatusOK || xs[1].RequestID != "req-AssumeRole-0" {
		t.Errorf("retry exchanges: %+v, %+v", xs[1], xs[2])
	}
	wantReds := "aws_secret_access_key@/AssumeRoleResponse/AssumeRoleResult/Credentials/SecretAccessKey aws_session_token@/AssumeRoleResponse/AssumeRoleResult/Credentials/SessionToken"
	var got []string
	for _, r := range xs[2].Redactions {
		got = append(got, r.Rule+"@"+r.Location)
	}
	if strings.Join(got, " ") != wantReds {
		t.Errorf("redactions %v, want %s", got, wantReds)
	}
	throttled := 0
	for _, s := range stats.all() {
		if s.Throttled {
			throttled++
		}
	}
	if throttled != 1 {
		t.Errorf("%d throttled exchanges observed, want 1", throttled)
	}

	leaks := &leakCheck{t: t, places: map[string]string{}}
	recorded, _ := json.Marshal(xs)
	leaks.add("the recorded exchanges", string(recorded))
	leaks.add("the logs", logs.String())
	leaks.add("the SDK output", fmt.Sprintf("%+v %s %s", out, aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken)))
	objects.List(ctx, func(info store.Info) error {
		b, err := store.GetBytes(ctx, objects, info.Digest)
		if err != nil {
			t.Fatal(err)
		}
		leaks.add("stored object "+info.Digest.String(), string(b))
		return nil
	})
	leaks.assertClean()
}
