package controls

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"testing/fstest"
	"time"

	"github.com/exhibit-dev/exhibit/core/controls/results"
	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// statusRules returns 150 rules over 30 kinds, each mapped to one or two Annex A controls.
func statusRules() []byte {
	iso := MustBuiltin().Framework(ISO27001).Assessable()
	var b bytes.Buffer
	b.WriteString("version: 1\nrules:\n")
	for i := 0; i < 150; i++ {
		fmt.Fprintf(&b, "  - id: aws.bench.r%d\n    version: 1\n    kind: aws.bench.kind%d\n    title: t\n    severity: low\n    expr: document.ok\n    controls: {iso27001-2022: [%s, %s]}\n",
			i, i%30, iso[i%len(iso)].ID, iso[(i+40)%len(iso)].ID)
	}
	return b.Bytes()
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// seedStatusIndex records runs nightly runs of artefacts results each (one result per
// artefact, rules round-robin, 1 in 500 failing, 1 in 1000 a gap) through indexResults,
// as the runner records sealed runs.
func seedStatusIndex(b *testing.B, eng *Engine, ix *index.Index, runs, artefacts int) {
	ctx := context.Background()
	objects := mem.New()
	rules := eng.Rules.Rules()
	infos := eng.ruleInfos()
	start := time.Date(2025, 12, 1, 2, 0, 0, 0, time.UTC)
	for r := 0; r < runs; r++ {
		at := start.AddDate(0, 0, r)
		id := at.Format("20060102T150405Z") + "-bench"
		var body bytes.Buffer
		w := results.NewWriter(&body)
		for a := 0; a < artefacts; a++ {
			rule := rules[a%len(rules)]
			res := Result{Rule: rule.ID, Version: rule.Version, Kind: rule.Kind, Subject: "aws:" + strconv.Itoa(a),
				Outcome: Pass, Connector: "aws-prod", CollectedAt: at.Add(time.Minute),
				Document: evidence.Sum([]byte(strconv.Itoa(a))), Values: []Value{{Path: "document.ok", Value: "true"}}}
			switch {
			case (a+r)%1000 == 0:
				res.Outcome, res.Message, res.Values = NoEvidence, "evidence not collected (throttled): slow down", nil
			case (a+r)%500 == 0:
				res.Outcome, res.Values = Fail, []Value{{Path: "document.ok", Value: "false"}}
			}
			if err := w.Write(a, &res); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		head, err := results.EncodeHeader(results.Header{Run: id, EvaluatedAt: at, Rules: infos, Counts: w.Counts()})
		if err != nil {
			b.Fatal(err)
		}
		ref, err := store.PutBytes(ctx, objects, append(head, body.Bytes()...), results.MediaType)
		if err != nil {
			b.Fatal(err)
		}
		h := manifest.Header{Schema: manifest.Schema, ID: id, Type: manifest.TypeCollection, StartedAt: at,
			EndedAt: at.Add(time.Hour), Outcome: manifest.OutcomeComplete, Signer: "bench", Results: &ref,
			Connectors: []manifest.ConnectorRun{{Instance: "aws-prod", Type: "aws", Version: "1", Outcome: manifest.OutcomeComplete,
				StartedAt: at, EndedAt: at.Add(time.Hour), Artefacts: artefacts}}}
		s := &manifest.Sealed{Header: h, Digest: evidence.Sum([]byte(id))}
		if err := ix.RecordRun(ctx, objects, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkControlsStatus measures `controls status` (BuildReport, summary only) over a year
// of nightly runs against a bare SELECT count(*) of the indexed result rows in the same
// index. Default size: 365 runs × 200 artefacts; the full size of the goal is
// EXHIBIT_BENCH_RUNS=365 EXHIBIT_BENCH_ARTEFACTS=5000 (seeding takes minutes).
// Run: go test -run XXX -bench ControlsStatus ./core/controls
func BenchmarkControlsStatus(b *testing.B) {
	runs, artefacts := envInt("EXHIBIT_BENCH_RUNS", 365), envInt("EXHIBIT_BENCH_ARTEFACTS", 200)
	eng, err := NewEngine(Options{BuiltinRules: fstest.MapFS{"aws/rules.yaml": {Data: statusRules()}}})
	if err != nil {
		b.Fatal(err)
	}
	ix, err := index.Open(context.Background(), filepath.Join(b.TempDir(), "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	seeded := time.Now()
	seedStatusIndex(b, eng, ix, runs, artefacts)
	b.Logf("seeded %d runs × %d artefacts in %s", runs, artefacts, time.Since(seeded).Round(time.Millisecond))
	from := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(1, 0, 0)
	eng.Now = func() time.Time { return to }
	b.Run("status", func(b *testing.B) {
		for b.Loop() {
			rep, err := BuildReport(context.Background(), ix, eng, ISO27001, from, to, ReportFilter{SummaryOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			if len(rep.Runs) != runs || rep.Counts[Failing] == 0 {
				b.Fatalf("report: %d runs, counts %v", len(rep.Runs), rep.Counts)
			}
		}
	})
	b.Run("count", func(b *testing.B) {
		for b.Loop() {
			var n int
			if err := ix.DB().QueryRow(`SELECT count(*) FROM results`).Scan(&n); err != nil {
				b.Fatal(err)
			}
			if n != runs*artefacts {
				b.Fatalf("%d rows", n)
			}
		}
	})
}
