package aws

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/accessanalyzer"
	aatypes "github.com/aws/aws-sdk-go-v2/service/accessanalyzer/types"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cfgtypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/inspector2"
	"github.com/aws/aws-sdk-go-v2/service/macie2"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// Detection services. "Not enabled" is judged per item: an account with no analyzer, no
// detector, no recorder, no hub, Inspector or Macie disabled has evidence that the control
// is off (a failing rule), while AccessDenied is missing evidence (a forbidden gap).

func collectAnalyzers(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	client := t.clients().accessanalyzer()
	g := t.pages()
	var token *string
	analyzers := []aatypes.AnalyzerSummary{}
	var err error
	for {
		if err = g.Next(deref(token)); err != nil {
			break
		}
		var out *accessanalyzer.ListAnalyzersOutput
		out, err = client.ListAnalyzers(ctx, &accessanalyzer.ListAnalyzersInput{NextToken: token})
		if err != nil {
			err = fmt.Errorf("could not list access analyzers: %w", err)
			break
		}
		analyzers = append(analyzers, out.Analyzers...)
		if token = out.NextToken; deref(token) == "" {
			break
		}
	}
	slices.SortFunc(analyzers, func(a, b aatypes.AnalyzerSummary) int { return compare(deref(a.Arn), deref(b.Arn)) })
	return t.result(kinds, map[string]any{"Analyzers": analyzers}, rec.Exchanges(), err)
}

// configRecordersDoc joins each recorder with its status.
type configRecordersDoc struct {
	ConfigurationRecorders      []cfgtypes.ConfigurationRecorder
	ConfigurationRecorderStatus []cfgtypes.ConfigurationRecorderStatus `json:"ConfigurationRecordersStatus"`
}

func collectConfigRecorders(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	client := t.clients().config()
	doc, err := func() (*configRecordersDoc, error) {
		recs, err := client.DescribeConfigurationRecorders(ctx, &configservice.DescribeConfigurationRecordersInput{})
		if err != nil {
			return nil, fmt.Errorf("could not describe configuration recorders: %w", err)
		}
		st, err := client.DescribeConfigurationRecorderStatus(ctx, &configservice.DescribeConfigurationRecorderStatusInput{})
		if err != nil {
			return nil, fmt.Errorf("could not describe configuration recorder status: %w", err)
		}
		d := &configRecordersDoc{ConfigurationRecorders: recs.ConfigurationRecorders, ConfigurationRecorderStatus: st.ConfigurationRecordersStatus}
		slices.SortFunc(d.ConfigurationRecorders, func(a, b cfgtypes.ConfigurationRecorder) int { return compare(deref(a.Name), deref(b.Name)) })
		slices.SortFunc(d.ConfigurationRecorderStatus, func(a, b cfgtypes.ConfigurationRecorderStatus) int { return compare(deref(a.Name), deref(b.Name)) })
		if d.ConfigurationRecorders == nil {
			d.ConfigurationRecorders = []cfgtypes.ConfigurationRecorder{}
		}
		if d.ConfigurationRecorderStatus == nil {
			d.ConfigurationRecorderStatus = []cfgtypes.ConfigurationRecorderStatus{}
		}
		return d, nil
	}()
	return t.result(kinds, doc, rec.Exchanges(), err)
}

// detectorEntry is one GuardDuty detector with GetDetector's output.
type detectorEntry struct {
	DetectorId string
	Detector   *guardduty.GetDetectorOutput
}

func collectDetectors(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	client := t.clients().guardduty()
	doc, err := func() (any, error) {
		g := t.pages()
		var token *string
		var ids []string
		for {
			if err := g.Next(deref(token)); err != nil {
				return nil, fmt.Errorf("could not list GuardDuty detectors: %w", err)
			}
			out, err := client.ListDetectors(ctx, &guardduty.ListDetectorsInput{NextToken: token})
			if err != nil {
				return nil, fmt.Errorf("could not list GuardDuty detectors: %w", err)
			}
			ids = append(ids, out.DetectorIds...)
			if token = out.NextToken; deref(token) == "" {
				break
			}
		}
		slices.Sort(ids)
		detectors := []detectorEntry{}
		for _, id := range ids {
			d, err := client.GetDetector(ctx, &guardduty.GetDetectorInput{DetectorId: aws.String(id)})
			if err != nil {
				return nil, fmt.Errorf("could not get GuardDuty detector %s: %w", id, err)
			}
			detectors = append(detectors, detectorEntry{DetectorId: id, Detector: d})
		}
		return map[string]any{"Detectors": detectors}, nil
	}()
	return t.result(kinds, doc, rec.Exchanges(), err)
}

// securityHubDoc: Enabled is false when the account is not subscribed to Security Hub in
// the region (InvalidAccessException "not subscribed"), which fails the control.
type securityHubDoc struct {
	Enabled          bool
	Hub              *securityhub.DescribeHubOutput
	EnabledStandards []shtypes.StandardsSubscription
}

func collectSecurityHub(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	client := t.clients().securityhub()
	doc, err := func() (*securityHubDoc, error) {
		hub, err := client.DescribeHub(ctx, &securityhub.DescribeHubInput{})
		if err != nil {
			if isCode(err, "InvalidAccessException") || messageContains(err, "not subscribed") {
				return &securityHubDoc{Enabled: false, EnabledStandards: []shtypes.StandardsSubscription{}}, nil
			}
			return nil, fmt.Errorf("could not describe the Security Hub: %w", err)
		}
		d := &securityHubDoc{Enabled: true, Hub: hub, EnabledStandards: []shtypes.StandardsSubscription{}}
		g := t.pages()
		var token *string
		for {
			if err := g.Next(deref(token)); err != nil {
				return nil, fmt.Errorf("could not get enabled Security Hub standards: %w", err)
			}
			out, err := client.GetEnabledStandards(ctx, &securityhub.GetEnabledStandardsInput{NextToken: token})
			if err != nil {
				return nil, fmt.Errorf("could not get enabled Security Hub standards: %w", err)
			}
			d.EnabledStandards = append(d.EnabledStandards, out.StandardsSubscriptions...)
			if token = out.NextToken; deref(token) == "" {
				break
			}
		}
		slices.SortFunc(d.EnabledStandards, func(a, b shtypes.StandardsSubscription) int {
			return compare(deref(a.StandardsSubscriptionArn), deref(b.StandardsSubscriptionArn))
		})
		return d, nil
	}()
	return t.result(kinds, doc, rec.Exchanges(), err)
}

func collectInspector(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	out, err := t.clients().inspector2().BatchGetAccountStatus(ctx, &inspector2.BatchGetAccountStatusInput{AccountIds: []string{t.account.ID}})
	if err != nil {
		err = fmt.Errorf("could not get the Inspector account status: %w", err)
		return t.result(kinds, nil, rec.Exchanges(), err)
	}
	return t.result(kinds, out, rec.Exchanges(), nil)
}

// macieDoc: Macie answers GetMacieSession with AccessDeniedException "Macie is not
// enabled" when it is off; that message is evidence of a disabled service (Enabled false),
// any other AccessDenied is a forbidden gap.
type macieDoc struct {
	Enabled bool
	Session *macie2.GetMacieSessionOutput
}

func collectMacie(ctx context.Context, t *target, kinds []string) []evidence.Artefact {
	ctx, rec := connector.Record(ctx)
	out, err := t.clients().macie2().GetMacieSession(ctx, &macie2.GetMacieSessionInput{})
	switch {
	case err == nil:
		return t.result(kinds, macieDoc{Enabled: true, Session: out}, rec.Exchanges(), nil)
	case messageContains(err, "not enabled"):
		return t.result(kinds, macieDoc{Enabled: false}, rec.Exchanges(), nil)
	default:
		return t.result(kinds, nil, rec.Exchanges(), fmt.Errorf("could not get the Macie session: %w", err))
	}
}
