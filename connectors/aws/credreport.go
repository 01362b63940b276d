package aws

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// Credential report polling: AWS generates the report in seconds and keeps it for four
// hours; a report still not complete after credentialReportTimeout is a failed gap.
const (
	credentialReportPoll    = 2 * time.Second
	credentialReportTimeout = 2 * time.Minute
	credentialReportPolls   = 30
)

// credentialReportDoc is the document of the credential report kinds (root access keys,
// root usage, user MFA, key rotation, unused credentials): the CSV parsed into one object
// per row, keyed by the CSV header. "true"/"false" (any case) become booleans; "N/A",
// "not_supported" and "no_information" become absent keys, so rules test `has(row.x)`;
// timestamps stay RFC 3339 strings for CEL's timestamp(). The raw CSV (base64 in the
// GetCredentialReport response) is kept with the exchange.
type credentialReportDoc struct {
	GeneratedTime *time.Time
	ReportFormat  iamtypes.ReportFormatType
	Rows          []map[string]any
}

func collectCredentialReport(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	doc, err := credentialReport(ctx, t)
	return t.result(kinds, doc, rec.Exchanges(), err)
}

func credentialReport(ctx context.Context, t *target) (*credentialReportDoc, error) {
	client := t.clients().iam()
	now := t.c.opts.Now
	deadline := now().Add(credentialReportTimeout)
	for poll := 1; ; poll++ {
		gen, err := client.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
		if err != nil {
			return nil, fmt.Errorf("could not generate the credential report: %w", err)
		}
		if gen.State == iamtypes.ReportStateTypeComplete {
			break
		}
		if poll >= credentialReportPolls || !now().Before(deadline) {
			return nil, fmt.Errorf("credential report still %s after %d polls", gen.State, poll)
		}
		if err := t.c.wait(ctx, credentialReportPoll); err != nil {
			return nil, err
		}
	}
	out, err := client.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil {
		return nil, fmt.Errorf("could not get the credential report: %w", err)
	}
	rows, err := parseCredentialReport(out.Content)
	if err != nil {
		return nil, err
	}
	return &credentialReportDoc{GeneratedTime: out.GeneratedTime, ReportFormat: out.ReportFormat, Rows: rows}, nil
}

// parseCredentialReport parses the report CSV. Rows are sorted by ARN (the root row
// first, as AWS lists it) so the document is deterministic.
func parseCredentialReport(content []byte) ([]map[string]any, error) {
	r := csv.NewReader(bytes.NewReader(content))
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("could not read the credential report header: %w", err)
	}
	rows := []map[string]any{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("credential report line %d: %w", line, err)
		}
		row := make(map[string]any, len(header))
		for i, h := range header {
			// The IAM User Guide spells the booleans TRUE and FALSE; reports carry them in
			// lower case. Both are booleans.
			switch v := rec[i]; {
			case strings.EqualFold(v, "true"):
				row[h] = true
			case strings.EqualFold(v, "false"):
				row[h] = false
			case v == "N/A", v == "not_supported", v == "no_information", v == "":
			default:
				row[h] = v
			}
		}
		rows = append(rows, row)
	}
	key := func(m map[string]any) string {
		if m["user"] == "<root_account>" {
			return ""
		}
		s, _ := m["arn"].(string)
		return s
	}
	slices.SortStableFunc(rows, func(a, b map[string]any) int { return compare(key(a), key(b)) })
	return rows, nil
}
