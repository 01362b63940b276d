package msgraph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/devicemanagement"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// deviceRow is the part of a managed device the rules need.
type deviceRow struct {
	ID                     string  `json:"id"`
	DeviceName             *string `json:"deviceName"`
	OperatingSystem        *string `json:"operatingSystem"`
	OSVersion              *string `json:"osVersion"`
	ComplianceState        *string `json:"complianceState"`
	IsEncrypted            *bool   `json:"isEncrypted"`
	LastSyncDateTime       *string `json:"lastSyncDateTime"`
	EnrolledDateTime       *string `json:"enrolledDateTime"`
	ManagedDeviceOwnerType *string `json:"managedDeviceOwnerType"`
	UserPrincipalName      *string `json:"userPrincipalName"`
}

var deviceSelect = []string{"id", "deviceName", "operatingSystem", "osVersion", "complianceState", "isEncrypted",
	"lastSyncDateTime", "enrolledDateTime", "managedDeviceOwnerType", "userPrincipalName"}

// fleet is what the Intune kinds share from the device listing: small per device.
type fleet struct {
	platforms map[string]bool
	windows   []deviceRow // id and name only
	exchanges []evidence.Exchange
	err       error
}

func intuneWorker(ctx context.Context, r *run, send func(evidence.Artefact) error) error {
	var f fleet
	fleetExchanges := func() []evidence.Exchange { return f.exchanges }
	for _, a := range []area{
		{kind: KindManagedDevices, op: "list Intune managed devices", build: func(ctx context.Context) (any, error) {
			doc, err := r.managedDevices(ctx, &f)
			f.err, f.exchanges = err, connector.RecorderFrom(ctx).Exchanges()
			return doc, err
		}},
		{kind: KindCompliancePolicies, op: "list Intune compliance policies", extra: fleetExchanges, build: func(ctx context.Context) (any, error) {
			if f.err != nil {
				return nil, f.err
			}
			pols, err := r.c.listSorted(ctx, func() (*absRequest, error) {
				return r.c.graph.DeviceManagement().DeviceCompliancePolicies().ToGetRequestInformation(ctx, &devicemanagement.DeviceCompliancePoliciesRequestBuilderGetRequestConfiguration{
					QueryParameters: &devicemanagement.DeviceCompliancePoliciesRequestBuilderGetQueryParameters{Expand: []string{"assignments"}}})
			})
			if err != nil {
				return nil, err
			}
			for _, p := range pols {
				for _, a := range mapList(p["assignments"]) {
					stripAnnotations(a)
				}
			}
			platforms := make([]string, 0, len(f.platforms))
			for p := range f.platforms {
				platforms = append(platforms, p)
			}
			sort.Strings(platforms)
			return map[string]any{"policies": pols, "platformsInUse": platforms}, nil
		}},
		{kind: KindMalwareProtection, op: "read the Windows protection state of managed devices", extra: fleetExchanges, build: func(ctx context.Context) (any, error) {
			if f.err != nil {
				return nil, f.err
			}
			return r.malwareProtection(ctx, f.windows)
		}},
	} {
		if err := r.collect(ctx, a, send); err != nil {
			return err
		}
	}
	return nil
}

// managedDevices streams the device listing into the document and keeps the platforms in
// use and the Windows devices for the other Intune kinds.
func (r *run) managedDevices(ctx context.Context, f *fleet) (any, error) {
	top := pageSize
	ri, err := r.c.graph.DeviceManagement().ManagedDevices().ToGetRequestInformation(ctx, &devicemanagement.ManagedDevicesRequestBuilderGetRequestConfiguration{
		QueryParameters: &devicemanagement.ManagedDevicesRequestBuilderGetQueryParameters{Select: deviceSelect, Top: &top}})
	if err != nil {
		return nil, err
	}
	f.platforms = map[string]bool{}
	doc := newListDocument("devices")
	err = r.c.list(withPersonalData(ctx), ri, func(items []json.RawMessage) error {
		for _, raw := range items {
			var d deviceRow
			if err := json.Unmarshal(raw, &d); err != nil {
				return fmt.Errorf("could not decode a managed device: %w", err)
			}
			if d.OperatingSystem != nil {
				f.platforms[*d.OperatingSystem] = true
				if *d.OperatingSystem == "Windows" {
					f.windows = append(f.windows, deviceRow{ID: d.ID, DeviceName: d.DeviceName})
				}
			}
			if err := doc.add(d); err != nil {
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

// defaultBatchBackoff is the wait for a throttled sub-request without Retry-After.
const defaultBatchBackoff = time.Second

// batchSize is the most requests one JSON $batch may carry.
const batchSize = 20

var protectionSelect = "malwareProtectionEnabled,realTimeProtectionEnabled,signatureUpdateOverdue,quickScanOverdue," +
	"fullScanOverdue,rebootRequired,deviceState,productStatus,tamperProtectionEnabled,signatureVersion," +
	"engineVersion,antiMalwareVersion,lastReportedDateTime,lastQuickScanDateTime,isVirtualMachine"

// malwareProtection reads windowsProtectionState per Windows device, 20 devices per JSON
// $batch (Graph throttles the sub-requests one by one, so the rate limiter is charged for
// each). Throttled sub-requests are retried after their Retry-After like single requests.
func (r *run) malwareProtection(ctx context.Context, windows []deviceRow) (any, error) {
	sort.Slice(windows, func(i, j int) bool { return windows[i].ID < windows[j].ID })
	total := len(windows)
	sampled := false
	if m := r.cfg.MalwareMaxDevices; m > 0 && total > m {
		windows, sampled = windows[:m], true
	}
	states := make(map[string]json.RawMessage, len(windows))
	statuses := make(map[string]int, len(windows))
	for start := 0; start < len(windows); start += batchSize {
		pending := windows[start:min(start+batchSize, len(windows))]
		for attempt := 1; len(pending) > 0; attempt++ {
			throttled, wait, err := r.protectionBatch(ctx, pending, states, statuses)
			if err != nil {
				return nil, err
			}
			if len(throttled) == 0 {
				break
			}
			if attempt >= r.c.limits.MaxAttempts {
				return nil, connector.AsGap(evidence.StatusThrottled, fmt.Errorf("Graph kept throttling %d protection state requests after %d attempts", len(throttled), attempt))
			}
			if wait > r.c.limits.MaxRetryAfter {
				return nil, connector.AsGap(evidence.StatusThrottled, fmt.Errorf("Graph asked to wait %s for protection states, more than the allowed %s (limits.max_retry_after)", wait, r.c.limits.MaxRetryAfter))
			}
			if err := r.c.clock.Sleep(ctx, wait); err != nil {
				return nil, err
			}
			pending = throttled
		}
	}
	doc := newListDocument("devices")
	checked := 0
	for _, d := range windows {
		row := map[string]any{"id": d.ID, "deviceName": d.DeviceName, "status": statuses[d.ID], "windowsProtectionState": nil}
		if s, ok := states[d.ID]; ok {
			row["windowsProtectionState"] = s
			checked++
		}
		if err := doc.add(row); err != nil {
			return nil, err
		}
	}
	return doc.finish(map[string]any{"windowsDevices": total, "checked": checked, "sampled": sampled})
}

// protectionBatch sends one $batch and files the answers; it returns the throttled devices
// and how long Graph asked to wait for them.
func (r *run) protectionBatch(ctx context.Context, devices []deviceRow, states map[string]json.RawMessage, statuses map[string]int) ([]deviceRow, time.Duration, error) {
	type subRequest struct {
		ID     string `json:"id"`
		Method string `json:"method"`
		URL    string `json:"url"`
	}
	var body struct {
		Requests []subRequest `json:"requests"`
	}
	for i, d := range devices {
		body.Requests = append(body.Requests, subRequest{ID: strconv.Itoa(i), Method: http.MethodGet,
			URL: "/deviceManagement/managedDevices/" + d.ID + "/windowsProtectionState?$select=" + protectionSelect})
	}
	content, err := json.Marshal(body)
	if err != nil {
		return nil, 0, err
	}
	ri := abs.NewRequestInformation()
	ri.Method = abs.POST
	ri.UrlTemplate = "{+baseurl}/$batch"
	ri.PathParameters = map[string]string{"baseurl": r.c.adapter.GetBaseUrl()}
	ri.SetStreamContentAndContentType(content, "application/json")
	b, err := r.c.get(withBatch(ctx, classIntune, len(devices)), ri)
	if err != nil {
		return nil, 0, err
	}
	var out struct {
		Responses []struct {
			ID      string            `json:"id"`
			Status  int               `json:"status"`
			Headers map[string]string `json:"headers"`
			Body    json.RawMessage   `json:"body"`
		} `json:"responses"`
	}
	if err := decodeJSON(b, &out); err != nil {
		return nil, 0, err
	}
	var throttled []deviceRow
	var wait time.Duration
	for _, resp := range out.Responses {
		i, err := strconv.Atoi(resp.ID)
		if err != nil || i < 0 || i >= len(devices) {
			return nil, 0, connector.AsGap(evidence.StatusFailed, fmt.Errorf("Graph answered a $batch with an unknown request id %q", resp.ID))
		}
		d := devices[i]
		switch {
		case resp.Status == http.StatusOK:
			var m map[string]any
			if err := decodeJSON(resp.Body, &m); err != nil {
				return nil, 0, err
			}
			stripAnnotations(m)
			delete(m, "@odata.type")
			s, _ := json.Marshal(m)
			states[d.ID], statuses[d.ID] = s, resp.Status
		case resp.Status == http.StatusNotFound:
			// The device has not reported a protection state (yet): recorded as such.
			statuses[d.ID] = resp.Status
		case retryable(resp.Status):
			throttled = append(throttled, d)
			h := http.Header{}
			for k, v := range resp.Headers {
				h.Set(k, v)
			}
			w, ok := connector.RetryAfter(&http.Response{Header: h}, r.c.clock.Now())
			if !ok {
				w = defaultBatchBackoff
			}
			wait = max(wait, w)
		default:
			// A 403 or a licence error applies to every device: the whole kind is a gap.
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			json.Unmarshal(resp.Body, &e)
			st := connector.StatusForHTTP(resp.Status)
			if isLicenceError(e.Error.Code, e.Error.Message) {
				st = evidence.StatusNotLicensed
			}
			return nil, 0, connector.AsGap(st, fmt.Errorf("Graph answered %d %s: %s for a protection state in a $batch", resp.Status, e.Error.Code, e.Error.Message))
		}
	}
	return throttled, wait, nil
}
