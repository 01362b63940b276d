package controls

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// benchRules returns a rules file of 150 rules over 30 kinds (5 per kind), of the shapes the
// connectors' rules have: a threshold with params, a list quantifier with failing items, a
// has() guard, a string comparison and a timestamp age.
func benchRules() []byte {
	var b strings.Builder
	b.WriteString("version: 1\nrules:\n")
	for k := 0; k < 30; k++ {
		kind := fmt.Sprintf("aws.bench.kind%d", k)
		rules := []struct{ expr, failing, params string }{
			{"document.policy.MinimumPasswordLength >= params.min", "", "{min: 14}"},
			{"document.users.all(u, u.mfa)", "document.users.filter(u, !u.mfa).map(u, u.name)", "{}"},
			{"has(document.policy.RequireSymbols) && document.policy.RequireSymbols", "", "{}"},
			{"document.status == params.want", "", "{want: enabled}"},
			{"now - timestamp(document.updated) < duration(params.age)", "", "{age: 2160h}"},
		}
		for i, r := range rules {
			fmt.Fprintf(&b, "  - id: aws.bench.k%d.r%d\n    version: 1\n    kind: %s\n    title: t\n    severity: low\n    params: %s\n    expr: %q\n",
				k, i, kind, r.params, r.expr)
			if r.failing != "" {
				fmt.Fprintf(&b, "    failing: %q\n", r.failing)
			}
			b.WriteString("    controls: {iso27001-2022: [A.8.5]}\n")
		}
	}
	return []byte(b.String())
}

// benchDocument is a document of about 2 KB with 20 users.
func benchDocument(i int) []byte {
	users := make([]map[string]any, 20)
	for u := range users {
		users[u] = map[string]any{"name": fmt.Sprintf("user%d-%d", i, u), "mfa": (i+u)%17 != 0, "arn": fmt.Sprintf("arn:aws:iam::123456789012:user/user%d", u), "created": "2025-01-02T03:04:05Z"}
	}
	doc := map[string]any{
		"policy":  map[string]any{"MinimumPasswordLength": 8 + i%10, "RequireSymbols": i%3 == 0, "PasswordReusePrevention": 24},
		"users":   users,
		"status":  []string{"enabled", "disabled"}[i%2],
		"updated": "2026-10-01T00:00:00Z",
	}
	b, _ := json.Marshal(doc)
	return b
}

// BenchmarkEvaluate measures rule evaluations per second on one core: each iteration parses
// one artefact document once and judges it with the 5 rules of its kind (150 rules over 30
// kinds in all). The json.Unmarshal sub-benchmark is the baseline on the same documents.
// Run: go test -run XXX -bench Evaluate -cpu 1 ./core/controls
func BenchmarkEvaluate(b *testing.B) {
	rs, err := ParseRules("bench.yaml", benchRules())
	if err != nil {
		b.Fatal(err)
	}
	const docs = 1000
	data := make([][]byte, docs)
	size := 0
	for i := range data {
		data[i] = benchDocument(i)
		size += len(data[i])
	}
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	b.Run("rules", func(b *testing.B) {
		b.SetBytes(int64(size / docs))
		out := make([]Result, 0, 8)
		evals := 0
		for i := 0; b.Loop(); i++ {
			kind := fmt.Sprintf("aws.bench.kind%d", i%30)
			out = rs.EvaluateDocument(kind, "aws:1", ParseDocument(data[i%docs]), now, out[:0])
			evals += len(out)
		}
		b.ReportMetric(float64(evals)/b.Elapsed().Seconds(), "evals/s")
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.SetBytes(int64(size / docs))
		for i := 0; b.Loop(); i++ {
			var v any
			if err := json.Unmarshal(data[i%docs], &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
