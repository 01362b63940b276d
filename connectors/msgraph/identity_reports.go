package msgraph

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	abs "github.com/microsoft/kiota-abstractions-go"

	"github.com/microsoftgraph/msgraph-sdk-go/auditlogs"

	"github.com/exhibit-dev/exhibit/evidence"
)

// pageSize is the $top of the large listings: the most Graph returns per page for users
// and managed devices; usersWithSignInPageSize the most with signInActivity selected.
const (
	pageSize                int32 = 999
	usersWithSignInPageSize int32 = 500
)

func reportsWorker(ctx context.Context, r *run, send func(evidence.Artefact) error) error {
	for _, a := range []area{
		{kind: KindMFARegistration, op: "list user registration details", build: r.mfaRegistration},
		{kind: KindDirectoryAuditLog, op: "read the directory audit log", build: r.directoryAuditLog},
		{kind: KindSignInLog, op: "read the sign-in log", build: r.signInLog},
	} {
		if err := r.collect(ctx, a, send); err != nil {
			return err
		}
	}
	return nil
}

// registrationRow is the part of a userRegistrationDetails row the rules need.
type registrationRow struct {
	ID                    string   `json:"id"`
	UserPrincipalName     *string  `json:"userPrincipalName"`
	UserDisplayName       *string  `json:"userDisplayName"`
	UserType              *string  `json:"userType"`
	IsAdmin               *bool    `json:"isAdmin"`
	IsMfaRegistered       *bool    `json:"isMfaRegistered"`
	IsMfaCapable          *bool    `json:"isMfaCapable"`
	IsPasswordlessCapable *bool    `json:"isPasswordlessCapable"`
	MethodsRegistered     []string `json:"methodsRegistered"`
}

// mfaRegistration streams the per-user registration report page by page into the
// document: one row per user with only the selected fields, never all SDK models at once.
func (r *run) mfaRegistration(ctx context.Context) (any, error) {
	// The report supports only $filter and $orderBy: no $select, no $top. The rows are
	// trimmed to registrationRow as they stream in.
	ri, err := r.c.graph.Reports().AuthenticationMethods().UserRegistrationDetails().ToGetRequestInformation(ctx, nil)
	if err != nil {
		return nil, err
	}
	doc := newListDocument("users")
	err = r.c.list(withPersonalData(ctx), ri, func(items []json.RawMessage) error {
		for _, raw := range items {
			var row registrationRow
			if err := json.Unmarshal(raw, &row); err != nil {
				return fmt.Errorf("could not decode a registration details row: %w", err)
			}
			if row.MethodsRegistered == nil {
				row.MethodsRegistered = []string{}
			}
			if err := doc.add(row); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return doc.finish(nil)
}

// latestEntry reads the newest entry of a log, proving the log is retrievable and current.
func (r *run) directoryAuditLog(ctx context.Context) (any, error) {
	top := int32(1)
	ri, err := r.c.graph.AuditLogs().DirectoryAudits().ToGetRequestInformation(ctx, &auditlogs.DirectoryAuditsRequestBuilderGetRequestConfiguration{
		QueryParameters: &auditlogs.DirectoryAuditsRequestBuilderGetQueryParameters{Top: &top, Orderby: []string{"activityDateTime desc"}}})
	if err != nil {
		return nil, err
	}
	return r.latestLogEntry(ctx, ri, "activityDateTime")
}

// signInLog reads the newest sign-in. The API supports $top, $skiptoken and $filter, and
// returns the newest entries first; it documents no $orderby, so none is sent.
func (r *run) signInLog(ctx context.Context) (any, error) {
	top := int32(1)
	ri, err := r.c.graph.AuditLogs().SignIns().ToGetRequestInformation(ctx, &auditlogs.SignInsRequestBuilderGetRequestConfiguration{
		QueryParameters: &auditlogs.SignInsRequestBuilderGetQueryParameters{Top: &top}})
	if err != nil {
		return nil, err
	}
	return r.latestLogEntry(ctx, ri, "createdDateTime")
}

// latestLogEntry keeps only the id and time of the newest entry: the evidence is that the
// log exists and is current, not who did what. Only the first page is read.
func (r *run) latestLogEntry(ctx context.Context, ri *abs.RequestInformation, field string) (any, error) {
	b, err := r.c.get(withPersonalData(ctx), ri)
	if err != nil {
		return nil, err
	}
	var p page
	if err := decodeJSON(b, &p); err != nil {
		return nil, err
	}
	doc := map[string]any{"available": true, "entries": len(p.Value), "latestEntryDateTime": nil, "latestEntryId": nil}
	if len(p.Value) > 0 {
		var e map[string]any
		if err := decodeJSON(p.Value[0], &e); err != nil {
			return nil, err
		}
		doc["latestEntryDateTime"], doc["latestEntryId"] = e[field], e["id"]
	}
	return doc, nil
}

// listDocument builds a document {"<name>": [rows...], "count": n, ...} incrementally,
// so a listing of 50,000 users is held once, as encoded rows, never as decoded models.
// Rows go into fixed-size chunks rather than one growing buffer: a doubling buffer holds up
// to three times the document while it grows; chunks and the final copy at most two.
type listDocument struct {
	chunks [][]byte
	size   int
	n      int
}

const chunkSize = 1 << 20

func newListDocument(name string) *listDocument {
	d := &listDocument{}
	d.write(fmt.Appendf(nil, "{%q:[", name))
	return d
}

func (d *listDocument) write(b []byte) {
	for len(b) > 0 {
		if len(d.chunks) == 0 || len(d.chunks[len(d.chunks)-1]) == chunkSize {
			d.chunks = append(d.chunks, make([]byte, 0, chunkSize))
		}
		last := &d.chunks[len(d.chunks)-1]
		n := min(len(b), chunkSize-len(*last))
		*last = append(*last, b[:n]...)
		b = b[n:]
		d.size += n
	}
}

func (d *listDocument) add(row any) error {
	b, err := json.Marshal(row)
	if err != nil {
		return fmt.Errorf("could not encode a row: %w", err)
	}
	if d.n > 0 {
		d.write([]byte{','})
	}
	d.write(b)
	d.n++
	return nil
}

// finish closes the list and appends "count" and the extra fields (sorted by key).
func (d *listDocument) finish(extra map[string]any) (json.RawMessage, error) {
	d.write(fmt.Appendf(nil, "],\"count\":%d", d.n))
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b, err := json.Marshal(extra[k])
		if err != nil {
			return nil, fmt.Errorf("could not encode %s: %w", k, err)
		}
		d.write(fmt.Appendf(nil, ",%q:%s", k, b))
	}
	d.write([]byte{'}'})
	out := make([]byte, 0, d.size)
	for _, c := range d.chunks {
		out = append(out, c...)
	}
	d.chunks = nil
	return json.RawMessage(out), nil
}
