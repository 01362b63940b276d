package caeval

import (
	"sort"
	"strings"
)

// The sign-in situations: one dimension per kind of condition a policy can set. A
// dimension that no enabled policy restricts has the single value "any".
const (
	dimApp = iota
	dimClient
	dimPlatform
	dimLocation
	dimSignInRisk
	dimUserRisk
	dimInsiderRisk
	dimFlow
	dimDevice
	nDims
)

var dimNames = [nDims]string{"application", "clientAppType", "platform", "location", "signInRisk", "userRisk", "insiderRisk", "authenticationFlow", "device"}

const (
	anyValue     = "any"
	otherApp     = "any other application"
	elsewhere    = "elsewhere (no named location)"
	normalFlow   = "none"
	otherDevice  = "any device outside the device filters"
	trustedIPsID = "00000000-0000-0000-0000-000000000000" // "MFA trusted IPs", always trusted
	unknownOS    = "unknown"
)

var (
	clientTypes = []string{"browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "other"}
	platforms   = []string{"android", "iOS", "windows", "windowsPhone", "macOS", "linux", unknownOS}
	riskLevels  = []string{"high", "medium", "low", "none"}
	insider     = []string{"elevated", "moderate", "minor", "none"}
	flows       = []string{normalFlow, "deviceCodeFlow", "authenticationTransfer"}
)

// compiled is an enabled policy prepared for the walk.
type compiled struct {
	p         Policy
	neverApps bool // targets user actions, authentication contexts or no application
	workload  bool // targets service principals, not users
}

func (c *compiled) conds() *Conditions {
	if c.p.Conditions == nil {
		return &Conditions{}
	}
	return c.p.Conditions
}

func compile(p Policy) *compiled {
	c := &compiled{p: p}
	cond := c.conds()
	a := cond.Applications
	if a == nil || len(a.IncludeApplications) == 0 || has(a.IncludeApplications, "None") {
		c.neverApps = true
	}
	if ca := cond.ClientApplications; ca != nil && len(ca.IncludeServicePrincipals) > 0 {
		c.workload = true
	}
	return c
}

// grid holds the values of each dimension for one evaluation.
type grid struct {
	values  [nDims][]string
	trusted map[string]bool
	names   map[string]string // named location and filter ids → readable names
}

func newGrid(t Tenant, pols []*compiled) *grid {
	g := &grid{trusted: map[string]bool{trustedIPsID: true}, names: map[string]string{trustedIPsID: "MFA trusted IPs"}}
	for _, nl := range t.NamedLocations {
		if nl.IsTrusted {
			g.trusted[nl.ID] = true
		}
		g.names[nl.ID] = nl.DisplayName
	}
	apps, locs := map[string]bool{}, map[string]bool{}
	var appRestricted, locRestricted, devFilters []string
	for _, c := range pols {
		cond := c.conds()
		if a := cond.Applications; a != nil && !c.neverApps {
			for _, id := range append(append([]string(nil), a.IncludeApplications...), a.ExcludeApplications...) {
				if id != "All" {
					apps[id] = true
				}
			}
			if !has(a.IncludeApplications, "All") || len(a.ExcludeApplications) > 0 {
				appRestricted = append(appRestricted, c.p.ID)
			}
			if a.ApplicationFilter != nil {
				apps["application filter of "+c.p.DisplayName] = true
				appRestricted = append(appRestricted, c.p.ID)
			}
		}
		if l := cond.Locations; l != nil && len(l.IncludeLocations)+len(l.ExcludeLocations) > 0 {
			locRestricted = append(locRestricted, c.p.ID)
			for _, id := range append(append([]string(nil), l.IncludeLocations...), l.ExcludeLocations...) {
				if id != "All" && id != "AllTrusted" {
					locs[id] = true
				}
			}
		}
		if len(cond.ClientAppTypes) > 0 && !has(cond.ClientAppTypes, "all") {
			g.values[dimClient] = clientTypes
		}
		if p := cond.Platforms; p != nil && len(p.IncludePlatforms)+len(p.ExcludePlatforms) > 0 {
			g.values[dimPlatform] = platforms
		}
		if len(cond.SignInRiskLevels) > 0 {
			g.values[dimSignInRisk] = riskLevels
		}
		if len(cond.UserRiskLevels) > 0 {
			g.values[dimUserRisk] = riskLevels
		}
		if cond.InsiderRiskLevels != nil && len(flags(*cond.InsiderRiskLevels)) > 0 {
			g.values[dimInsiderRisk] = insider
		}
		if f := cond.AuthenticationFlows; f != nil && len(flags(f.TransferMethods)) > 0 {
			g.values[dimFlow] = flows
		}
		if d := cond.Devices; d != nil && d.DeviceFilter != nil {
			devFilters = append(devFilters, deviceFilterValue(c.p))
		}
	}
	if len(appRestricted) > 0 {
		g.values[dimApp] = append(sortedKeys(apps), otherApp)
	}
	if len(locRestricted) > 0 {
		for _, nl := range t.NamedLocations {
			locs[nl.ID] = true
		}
		locs[trustedIPsID] = true
		g.values[dimLocation] = append(sortedKeys(locs), elsewhere)
	}
	if len(devFilters) > 0 {
		sort.Strings(devFilters)
		g.values[dimDevice] = append(devFilters, otherDevice)
	}
	for d := range g.values {
		if len(g.values[d]) == 0 {
			g.values[d] = []string{anyValue}
		}
	}
	return g
}

func deviceFilterValue(p Policy) string { return "device filter of " + p.DisplayName }

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// applies says whether a policy's condition of one dimension matches the value v.
func (g *grid) applies(c *compiled, d int, v string) bool {
	cond := c.conds()
	switch d {
	case dimApp:
		if c.neverApps {
			return false
		}
		a := cond.Applications
		if f := a.ApplicationFilter; f != nil {
			own := v == "application filter of "+c.p.DisplayName
			if strings.EqualFold(f.Mode, "include") != own {
				return false
			}
		}
		if v == anyValue {
			return has(a.IncludeApplications, "All")
		}
		if has(a.ExcludeApplications, v) {
			return false
		}
		return has(a.IncludeApplications, "All") || has(a.IncludeApplications, v)
	case dimClient:
		l := cond.ClientAppTypes
		if len(l) == 0 || has(l, "all") || v == anyValue {
			return len(l) == 0 || has(l, "all")
		}
		return has(l, v) || v == "exchangeActiveSync" && has(l, "easSupported")
	case dimPlatform:
		p := cond.Platforms
		if p == nil || len(p.IncludePlatforms)+len(p.ExcludePlatforms) == 0 {
			return true
		}
		in := has(p.IncludePlatforms, "all") || has(p.IncludePlatforms, v)
		out := has(p.ExcludePlatforms, "all") || has(p.ExcludePlatforms, v)
		return in && !out
	case dimLocation:
		l := cond.Locations
		if l == nil || len(l.IncludeLocations)+len(l.ExcludeLocations) == 0 {
			return true
		}
		match := func(list []string) bool {
			return has(list, "All") || has(list, "AllTrusted") && g.trusted[v] || has(list, v)
		}
		return (len(l.IncludeLocations) == 0 || match(l.IncludeLocations)) && !match(l.ExcludeLocations)
	case dimSignInRisk:
		return len(cond.SignInRiskLevels) == 0 || has(cond.SignInRiskLevels, v)
	case dimUserRisk:
		return len(cond.UserRiskLevels) == 0 || has(cond.UserRiskLevels, v)
	case dimInsiderRisk:
		if cond.InsiderRiskLevels == nil || len(flags(*cond.InsiderRiskLevels)) == 0 {
			return true
		}
		return has(flags(*cond.InsiderRiskLevels), v)
	case dimFlow:
		f := cond.AuthenticationFlows
		if f == nil || len(flags(f.TransferMethods)) == 0 {
			return true
		}
		return has(flags(f.TransferMethods), v)
	case dimDevice:
		d := cond.Devices
		if d == nil || d.DeviceFilter == nil {
			return true
		}
		own := v == deviceFilterValue(c.p)
		return strings.EqualFold(d.DeviceFilter.Mode, "include") == own
	}
	return false
}

// walk counts the situations covered by at least one of pols, and per dimension value how
// many covered situations have it. A subtree without a candidate policy is uncovered as a
// whole.
type walk struct {
	g         *grid
	covered   int
	uncovered int
	cov       [nDims]map[string]int
	example   []string
}

func (w *walk) run(pols []*compiled, d int, prefix []string) {
	if len(pols) == 0 {
		n := 1
		for e := d; e < nDims; e++ {
			n *= len(w.g.values[e])
		}
		w.uncovered += n
		if w.example == nil {
			w.example = append(append([]string(nil), prefix...), make([]string, nDims-d)...)
			for e := d; e < nDims; e++ {
				w.example[e] = anyValue
			}
		}
		return
	}
	if d == nDims || w.settles(pols, d) {
		// Covered: every situation below, counted at once (a policy that applies to every
		// remaining value settles the subtree without walking it).
		n := 1
		for e := d; e < nDims; e++ {
			n *= len(w.g.values[e])
		}
		w.covered += n
		for e := 0; e < nDims; e++ {
			if w.cov[e] == nil {
				w.cov[e] = map[string]int{}
			}
			if e < d {
				w.cov[e][prefix[e]] += n
				continue
			}
			for _, v := range w.g.values[e] {
				w.cov[e][v] += n / len(w.g.values[e])
			}
		}
		return
	}
	for _, v := range w.g.values[d] {
		var next []*compiled
		for _, c := range pols {
			if w.g.applies(c, d, v) {
				next = append(next, c)
			}
		}
		w.run(next, d+1, append(prefix, v))
	}
}

// settles says whether one of pols applies to every value of every dimension from d on.
func (w *walk) settles(pols []*compiled, d int) bool {
	for _, c := range pols {
		all := true
		for e := d; e < nDims && all; e++ {
			for _, v := range w.g.values[e] {
				if !w.g.applies(c, e, v) {
					all = false
					break
				}
			}
		}
		if all {
			return true
		}
	}
	return false
}

// escaping adds to never, per dimension, the values under which no sign-in is covered at
// all: the restrictions of the policies (a client app type they leave out, a location they
// exclude). Sign-ins can also escape only where restrictions meet; the example shows one.
func (w *walk) escaping(never *[nDims]map[string]bool) {
	for d := 0; d < nDims; d++ {
		if len(w.g.values[d]) < 2 {
			continue
		}
		for _, v := range w.g.values[d] {
			if w.cov[d][v] == 0 {
				if never[d] == nil {
					never[d] = map[string]bool{}
				}
				never[d][v] = true
			}
		}
	}
}

// conditions renders the escaping values per dimension, in the grid's order.
func (g *grid) conditions(never [nDims]map[string]bool) []string {
	var out []string
	for d := 0; d < nDims; d++ {
		var l []string
		for _, v := range g.values[d] {
			if never[d][v] {
				l = append(l, g.label(v))
			}
		}
		if len(l) > 0 {
			out = append(out, dimNames[d]+": "+strings.Join(l, ", "))
		}
	}
	return out
}

// describe renders a situation.
func (g *grid) describe(s []string) string {
	var parts []string
	for d, v := range s {
		if v != anyValue {
			parts = append(parts, dimNames[d]+" "+g.label(v))
		}
	}
	if len(parts) == 0 {
		return "any sign-in"
	}
	return strings.Join(parts, ", ")
}

func (g *grid) label(v string) string {
	if n := g.names[v]; n != "" {
		return n + " (" + v + ")"
	}
	return v
}
