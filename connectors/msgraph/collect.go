package msgraph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// Connector collects the evidence of one Entra tenant.
type Connector struct {
	cfg   *tenantConfig
	opts  connector.Options
	clock Clock
	// lastLimiter is the rate limiter of the latest Collect, for its request counts
	// (tests and the benchmark).
	lastLimiter *limiter
}

var _ connector.Connector = (*Connector)(nil)

// run is one collection: the client and what the areas share.
type run struct {
	c       *client
	cfg     *tenantConfig
	subject string
	pseud   *pseudonymiser

	// ca holds the conditional access policies, read once (the service allows 1 request/s)
	// and shared by the kinds derived from them, with the exchanges they came from.
	ca struct {
		policies  []map[string]any
		exchanges []evidence.Exchange
		err       error
	}
	// skus are the tenant's subscribed SKUs, read once: the licences kind and the
	// licence-or-permission decision of every gap use them.
	skus struct {
		list      []map[string]any
		exchanges []evidence.Exchange
		err       error
	}
	// facts are the users, groups and role holders, read once for conditional access and
	// the role assignments.
	facts facts
	// breakGlass are the configured emergency-access accounts' object ids.
	breakGlass struct {
		ids        []string
		configured bool
		accounts   []map[string]any
		exchanges  []evidence.Exchange
		err        error
	}
}

// Collect implements connector.Connector. The areas run concurrently, one goroutine per
// throttling class, so that the slow identity reports (5 requests per 10 s) do not hold up
// the rest; artefacts are handed to emit in the calling goroutine.
func (k *Connector) Collect(ctx context.Context, emit func(evidence.Artefact) error) error {
	r, err := k.prepare(ctx)
	if err != nil {
		return err
	}
	r.prefetch(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make(chan evidence.Artefact)
	errs := make(chan error, len(workers))
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			send := func(a evidence.Artefact) error {
				select {
				case out <- a:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if err := w(ctx, r, send); err != nil {
				errs <- err
			}
		}()
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	var emitErr error
	for a := range out {
		if emitErr != nil {
			continue
		}
		if err := emit(a); err != nil {
			emitErr = err
			cancel()
		}
	}
	close(errs)
	if emitErr != nil {
		return emitErr
	}
	for err := range errs {
		return err
	}
	return nil
}

// prepare resolves secrets, builds the credential and checks it, and builds the client.
// Without the pseudonym key nothing is collected: collecting un-pseudonymised would store
// exactly what the configuration forbids.
func (k *Connector) prepare(ctx context.Context) (*run, error) {
	cfg, opts := k.cfg, k.opts
	if opts.Secrets == nil && cfg.credential != "static" || opts.Secrets == nil && cfg.Pseudonymise != nil {
		return nil, fmt.Errorf("the msgraph connector needs Options.Secrets to read its credentials")
	}
	var pseud *pseudonymiser
	if p := cfg.Pseudonymise; p != nil {
		key, err := opts.Secrets.Secret("pseudonymise.key", p.KeyEnv, p.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("could not read the pseudonymisation key, so nothing was collected: %w", err)
		}
		if len(key) < 16 {
			return nil, fmt.Errorf("the pseudonymisation key is shorter than 16 bytes, so nothing was collected")
		}
		pseud = newPseudonymiser(key, cfg.pseudFields)
	}
	var cred azcore.TokenCredential
	if cfg.credential != "static" {
		var err error
		if cred, err = newCredential(cfg, opts); err != nil {
			return nil, fmt.Errorf("could not set up the %s credential for tenant %s: %w", cfg.credential, cfg.TenantID, err)
		}
		if err := checkCredential(ctx, cfg, cred); err != nil {
			return nil, err
		}
	}
	auth, err := newAuthProvider(cfg, cred)
	if err != nil {
		return nil, err
	}
	c, err := newClient(cfg, opts, auth, k.clock, pseud)
	if err != nil {
		return nil, err
	}
	k.lastLimiter = c.limiter
	return &run{c: c, cfg: cfg, subject: cfg.subject(), pseud: pseud}, nil
}

// worker collects the areas of one throttling class.
type worker func(ctx context.Context, r *run, send func(evidence.Artefact) error) error

var workers = []worker{conditionalAccessWorker, reportsWorker, directoryWorker, intuneWorker}

// area is one artefact's collection: build returns the document.
type area struct {
	kind  string
	op    string // what failed, for the gap message: "list conditional access policies"
	build func(ctx context.Context) (any, error)
	// extra are exchanges of shared reads the document also derives from.
	extra func() []evidence.Exchange
}

// collect runs one area and sends its artefact or gap. It returns an error only when the
// collection must stop: ctx ended or send failed.
func (r *run) collect(ctx context.Context, a area, send func(evidence.Artefact) error) error {
	ctx, rec := connector.Record(ctx)
	doc, err := a.build(ctx)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var exch []evidence.Exchange
	if a.extra != nil {
		exch = append(exch, a.extra()...)
	}
	exch = append(exch, rec.Exchanges()...)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		status, gerr := r.classifyGap(a.op, err)
		if r.pseud != nil {
			// A transport error quotes the request URL, which for a lookup by UPN names a person.
			gerr = errors.New(r.pseud.pseudonymiseText(strings.ReplaceAll(gerr.Error(), "%40", "@")))
		}
		gap := connector.NewGap(a.kind, r.subject, status, gerr)
		gap.Exchanges = exch
		return send(gap)
	}
	b, err := encodeDocument(doc)
	if err != nil {
		gap := connector.NewGap(a.kind, r.subject, evidence.StatusFailed, fmt.Errorf("could not encode the %s document: %w", a.kind, err))
		gap.Exchanges = exch
		return send(gap)
	}
	art := evidence.Artefact{Kind: a.kind, Subject: r.subject, Document: b, Exchanges: exch}
	if r.pseud != nil {
		if art.Pseudonymised, err = pseudonymisedPaths(b); err != nil {
			return send(connector.NewGap(a.kind, r.subject, evidence.StatusFailed, err))
		}
	}
	return send(art)
}

// classifyGap is classify with the tenant's licences considered: Graph answers
// Authentication_RequestFromNonPremiumTenantOrB2CTenant also to tenants that have Entra ID
// P1 when the application lacks a permission the request needs (the sign-in log, for one,
// needs Directory.Read.All next to AuditLog.Read.All). With P1 in the tenant's SKUs that
// answer is a missing permission, not a missing licence.
func (r *run) classifyGap(op string, err error) (evidence.Status, error) {
	status, gerr := classify(op, err)
	var oe *odataerrors.ODataError
	if status == evidence.StatusNotLicensed && errors.As(err, &oe) && oe.GetErrorEscaped() != nil &&
		oe.GetErrorEscaped().GetCode() != nil && strings.HasSuffix(*oe.GetErrorEscaped().GetCode(), "RequestFromNonPremiumTenantOrB2CTenant") {
		if has, known := r.hasP1(); known && has {
			return evidence.StatusForbidden, fmt.Errorf("%w (the tenant has Entra ID P1, so a permission is missing, not a licence)", gerr)
		}
	}
	return status, gerr
}

// encodeDocument marshals a document deterministically (map keys sorted, no HTML escaping);
// documents built incrementally arrive as json.RawMessage.
func encodeDocument(doc any) ([]byte, error) {
	if raw, ok := doc.(json.RawMessage); ok {
		return raw, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// notLicensed is the error of an artefact the tenant's licences do not cover.
func notLicensed(format string, args ...any) error {
	return connector.AsGap(evidence.StatusNotLicensed, fmt.Errorf(format, args...))
}
