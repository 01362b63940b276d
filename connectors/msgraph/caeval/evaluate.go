package caeval

import (
	"fmt"
	"sort"
	"strings"
)

// Question is one thing to decide about a tenant's conditional access.
type Question struct {
	// Key names the result in documents (assessment.<Key>).
	Key string
	// Demand says what a policy must demand, for reasons: "MFA", "a block".
	Demand string
	// population selects the users the question is about (break-glass accounts and
	// disabled accounts are removed before).
	population func(u User) bool
	// force fixes dimensions to the situations the question is about.
	force map[int][]string
	// answers says whether a grant, once the policy applies, settles the question.
	answers func(t *Tenant, g *GrantControls) bool
}

// Privileged roles (template ids): the roles whose holders must use phishing-resistant MFA.
var PrivilegedRoles = []string{
	"62e90394-69f5-4237-9190-012177145e10", // Global Administrator
	"e8611ab8-c189-46e8-94e1-60213ab1f814", // Privileged Role Administrator
	"7be44c8a-adaf-4e2a-84d6-ab2649e08a13", // Privileged Authentication Administrator
	"194ae4cb-b126-40b2-bd5b-6091b380977d", // Security Administrator
	"fe930be7-5e62-47db-91af-98c3a49a38b1", // User Administrator
	"29232cdf-9323-42fd-ade2-1d097af3e4de", // Exchange Administrator
	"f28a1f50-f6e7-4571-818b-6a12f2af6b6c", // SharePoint Administrator
	"8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2", // Hybrid Identity Administrator
	"9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", // Application Administrator
	"158c047a-c907-4556-b7ef-446551a6b5f7", // Cloud Application Administrator
	"b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", // Conditional Access Administrator
	"c4e39bd9-1100-46d3-8c65-fb160da0071f", // Authentication Administrator
	"729827e3-9c14-49f7-bb1b-9608f156bbb8", // Helpdesk Administrator
}

// phishingResistant are the authentication method modes of Microsoft's built-in
// "Phishing-resistant MFA" strength.
var phishingResistant = []string{"windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor"}

// multiFactorModes are the modes that are multifactor on their own; every other mode is a
// single factor and needs a second one in its combination.
var multiFactorModes = []string{"windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor", "deviceBasedPush",
	"temporaryAccessPassOneTime", "temporaryAccessPassMultiUse", "federatedMultiFactor"}

func everyone(User) bool { return true }

func isAdmin(u User) bool {
	for _, r := range u.Roles {
		if has(PrivilegedRoles, r) {
			return true
		}
	}
	return false
}

// The questions the connector's documents answer.
var (
	MFAAllUsers = Question{Key: "mfaAllUsers", Demand: "MFA", population: everyone,
		answers: func(t *Tenant, g *GrantControls) bool { return t.grantDemands(g, t.isMFA) }}
	LegacyAuthBlocked = Question{Key: "legacyAuthBlocked", Demand: "a block", population: everyone,
		force:   map[int][]string{dimClient: {"exchangeActiveSync", "other"}},
		answers: func(t *Tenant, g *GrantControls) bool { return blocks(g) }}
	PhishingResistantAdmins = Question{Key: "phishingResistantAdmins", Demand: "phishing-resistant MFA", population: isAdmin,
		answers: func(t *Tenant, g *GrantControls) bool { return t.grantDemands(g, t.isPhishingResistant) }}
	CompliantDevice = Question{Key: "compliantDevice", Demand: "a compliant or hybrid-joined device", population: everyone,
		answers: func(t *Tenant, g *GrantControls) bool {
			return t.grantDemands(g, func(r string) bool { return r == "compliantDevice" || r == "domainJoinedDevice" })
		}}
	DeviceCodeFlowBlocked = Question{Key: "deviceCodeFlowBlocked", Demand: "a block", population: everyone,
		force:   map[int][]string{dimFlow: {"deviceCodeFlow"}},
		answers: func(t *Tenant, g *GrantControls) bool { return blocks(g) }}
	HighUserRisk = Question{Key: "highUserRisk", Demand: "a block or a secure password change", population: everyone,
		force: map[int][]string{dimUserRisk: {"high"}},
		answers: func(t *Tenant, g *GrantControls) bool {
			return t.grantDemands(g, func(r string) bool { return r == "passwordChange" })
		}}
	HighSignInRisk = Question{Key: "highSignInRisk", Demand: "a block or MFA", population: everyone,
		force:   map[int][]string{dimSignInRisk: {"high"}},
		answers: func(t *Tenant, g *GrantControls) bool { return t.grantDemands(g, t.isMFA) }}
)

func blocks(g *GrantControls) bool { return g != nil && has(g.BuiltInControls, "block") }

// grantDemands says whether every way to satisfy the grant includes a requirement for
// which ok holds: with AND one such requirement suffices, with OR each alternative must be
// one. A block settles every question (nobody gets in).
func (t *Tenant) grantDemands(g *GrantControls, ok func(req string) bool) bool {
	if g == nil {
		return false
	}
	if blocks(g) {
		return true
	}
	var reqs []string
	reqs = append(reqs, g.BuiltInControls...)
	if g.AuthenticationStrength != nil {
		reqs = append(reqs, "strength:"+g.AuthenticationStrength.ID)
	}
	for _, f := range g.CustomAuthenticationFactors {
		reqs = append(reqs, "custom:"+f)
	}
	for _, f := range g.TermsOfUse {
		reqs = append(reqs, "termsOfUse:"+f)
	}
	if len(reqs) == 0 {
		return false
	}
	and := strings.EqualFold(g.Operator, "AND") || len(reqs) == 1
	for _, r := range reqs {
		if ok(r) == and {
			return and
		}
	}
	return !and
}

// strength resolves a strength requirement: the embedded object if it lists its
// combinations, else the tenant's strength with that id.
func (t *Tenant) strength(req string) *Strength {
	id, ok := strings.CutPrefix(req, "strength:")
	if !ok {
		return nil
	}
	var embedded *Strength
	for _, p := range t.Policies {
		if g := p.GrantControls; g != nil && g.AuthenticationStrength != nil && g.AuthenticationStrength.ID == id && len(g.AuthenticationStrength.AllowedCombinations) > 0 {
			embedded = g.AuthenticationStrength
		}
	}
	for i := range t.Strengths {
		if strings.EqualFold(t.Strengths[i].ID, id) {
			return &t.Strengths[i]
		}
	}
	return embedded
}

func (t *Tenant) isMFA(req string) bool {
	if req == "mfa" {
		return true
	}
	s := t.strength(req)
	if s == nil || !strings.EqualFold(s.RequirementsSatisfied, "mfa") || len(s.AllowedCombinations) == 0 {
		return false
	}
	for _, c := range s.AllowedCombinations {
		if modes := flags(c); len(modes) < 2 && !(len(modes) == 1 && has(multiFactorModes, modes[0])) {
			return false
		}
	}
	return true
}

func (t *Tenant) isPhishingResistant(req string) bool {
	s := t.strength(req)
	if s == nil || len(s.AllowedCombinations) == 0 {
		return false
	}
	for _, c := range s.AllowedCombinations {
		modes := flags(c)
		if len(modes) != 1 || !has(phishingResistant, modes[0]) {
			return false
		}
	}
	return true
}

// guestTypes are the guest or external user types a user may be. A guest account cannot
// be told apart further from its directory object alone.
func guestTypes(u User) []string {
	switch {
	case strings.EqualFold(u.UserType, "Guest"):
		return []string{"internalGuest", "b2bCollaborationGuest"}
	case strings.Contains(strings.ToUpper(u.UserPrincipalName), "#EXT#"):
		return []string{"b2bCollaborationMember"}
	}
	return nil
}

// Targeting says whether a policy's user assignment includes u and does not exclude u,
// and if u is excluded, by what.
func Targeting(p Policy, u User) (included bool, excludedBy string) {
	var us Users
	if p.Conditions != nil && p.Conditions.Users != nil {
		us = *p.Conditions.Users
	}
	types := guestTypes(u)
	anyIn := func(l, of []string) bool {
		for _, e := range of {
			if has(l, e) {
				return true
			}
		}
		return false
	}
	allGuestsIn := func(g *GuestsOrExternal) bool {
		if g == nil || len(types) == 0 || g.ExternalTenants != nil && !strings.EqualFold(g.ExternalTenants.MembershipKind, "all") {
			return false
		}
		for _, ty := range types {
			if !has(flags(g.GuestOrExternalUserTypes), ty) {
				return false
			}
		}
		return true
	}
	included = !has(us.IncludeUsers, "None") && (has(us.IncludeUsers, "All") || has(us.IncludeUsers, u.ID) ||
		anyIn(us.IncludeGroups, u.Groups) || anyIn(us.IncludeRoles, u.Roles) ||
		len(types) > 0 && (has(us.IncludeUsers, "GuestsOrExternalUsers") || allGuestsIn(us.IncludeGuestsOrExternalUsers)))
	switch {
	case has(us.ExcludeUsers, u.ID):
		excludedBy = "excludeUsers"
	case anyIn(us.ExcludeGroups, u.Groups):
		excludedBy = "excludeGroups"
	case anyIn(us.ExcludeRoles, u.Roles):
		excludedBy = "excludeRoles"
	case len(types) > 0 && has(us.ExcludeUsers, "GuestsOrExternalUsers"):
		excludedBy = "excludeUsers GuestsOrExternalUsers"
	case len(types) > 0 && us.ExcludeGuestsOrExternalUsers != nil && anyIn(flags(us.ExcludeGuestsOrExternalUsers.GuestOrExternalUserTypes), types):
		excludedBy = "excludeGuestsOrExternalUsers"
	}
	return included && excludedBy == "", excludedBy
}

// Result is the answer to one question.
type Result struct {
	// Covered: every situation of every user in the population is settled by an enabled
	// policy.
	Covered bool `json:"covered"`
	// Population is the number of enabled users the question is about, break-glass
	// accounts not counted.
	Population int `json:"population"`
	// LeftOutCount users have no sign-in settled at all; LeftOut names them (at most
	// maxNames), each with the policies that exclude them.
	LeftOutCount int      `json:"leftOutCount"`
	LeftOut      []string `json:"leftOut"`
	// Conditions are the situations under which sign-ins of the other users escape.
	Conditions []string `json:"conditions"`
	// Example is one situation that escapes, in full.
	Example string `json:"example,omitempty"`
	// Policies are the enabled policies that settle the question for some sign-in.
	Policies []string `json:"policies"`
	// NotEnforced are report-only or disabled policies that would settle it.
	NotEnforced []string `json:"notEnforced"`
	// ExemptBreakGlass are configured break-glass accounts that the policies leave out.
	ExemptBreakGlass []string `json:"exemptBreakGlass"`
	// Reason says the verdict and why, in one sentence.
	Reason string `json:"reason"`
	// Findings list what fails, for the rules' decisive values.
	Findings []string `json:"findings"`
}

const maxNames = 50

// Evaluate answers q for t.
func Evaluate(t Tenant, q Question) Result {
	res := Result{LeftOut: []string{}, Conditions: []string{}, Policies: []string{}, NotEnforced: []string{},
		ExemptBreakGlass: []string{}, Findings: []string{}}
	var pols []*compiled
	for _, p := range t.Policies {
		if !q.answers(&t, p.GrantControls) {
			continue
		}
		if p.State != "enabled" {
			res.NotEnforced = append(res.NotEnforced, label(p))
			continue
		}
		c := compile(p)
		if c.workload || c.neverApps {
			continue
		}
		pols = append(pols, c)
	}
	g := newGrid(t, pols)
	for d, v := range q.force {
		g.values[d] = v
	}
	// Users whom the same policies target behave alike: walk the grid once per class.
	type class struct {
		pols  []*compiled
		users []User
	}
	classes := map[string]*class{}
	var order []string
	bg := map[string]bool{}
	for _, id := range t.BreakGlass {
		bg[strings.ToLower(id)] = true
	}
	excludedBy := map[string][]string{}
	var bgUsers []User
	for _, u := range t.Users {
		if !u.enabled() || !q.population(u) {
			continue
		}
		var key strings.Builder
		var cp []*compiled
		for i, c := range pols {
			in, ex := Targeting(c.p, u)
			if in {
				cp = append(cp, c)
				fmt.Fprintf(&key, "%d,", i)
			} else if ex != "" {
				excludedBy[u.ID] = append(excludedBy[u.ID], label(c.p)+" ("+ex+")")
			}
		}
		if bg[strings.ToLower(u.ID)] {
			bgUsers = append(bgUsers, u)
			continue
		}
		res.Population++
		k := key.String()
		if classes[k] == nil {
			classes[k] = &class{pols: cp}
			order = append(order, k)
		}
		classes[k].users = append(classes[k].users, u)
	}
	elsewhere := map[string]bool{} // targeted, but under none of the question's situations
	var never [nDims]map[string]bool
	var example []string
	escaped := false
	var leftOut []User
	for _, k := range order {
		c := classes[k]
		w := walk{g: g}
		w.run(c.pols, 0, nil)
		if w.covered == 0 {
			leftOut = append(leftOut, c.users...)
			if len(c.pols) > 0 {
				for _, u := range c.users {
					elsewhere[u.ID] = true
				}
			}
			continue
		}
		if w.uncovered > 0 {
			escaped = true
			w.escaping(&never)
			if example == nil {
				example = w.example
			}
		}
	}
	for _, u := range bgUsers {
		w := walk{g: g}
		var cp []*compiled
		for _, c := range pols {
			if in, _ := Targeting(c.p, u); in {
				cp = append(cp, c)
			}
		}
		w.run(cp, 0, nil)
		if w.uncovered > 0 {
			res.ExemptBreakGlass = append(res.ExemptBreakGlass, u.name())
		}
	}
	sort.Strings(res.ExemptBreakGlass)
	for _, c := range pols {
		res.Policies = append(res.Policies, label(c.p))
	}
	sort.Strings(res.Policies)
	sort.Strings(res.NotEnforced)
	sort.Slice(leftOut, func(i, j int) bool { return leftOut[i].name() < leftOut[j].name() })
	res.LeftOutCount = len(leftOut)
	for i, u := range leftOut {
		if i == maxNames {
			break
		}
		n := u.name()
		if ex := excludedBy[u.ID]; len(ex) > 0 {
			n += " (excluded by " + strings.Join(ex, "; ") + ")"
		} else if elsewhere[u.ID] {
			n += " (targeted only under other conditions)"
		} else {
			n += " (not included)"
		}
		res.LeftOut = append(res.LeftOut, n)
	}
	res.Conditions = orEmpty(g.conditions(never))
	if example != nil {
		res.Example = g.describe(example)
	}
	res.Covered = len(leftOut) == 0 && !escaped
	res.Reason, res.Findings = reason(q, res)
	return res
}

func label(p Policy) string {
	if p.DisplayName != "" {
		return p.DisplayName
	}
	return p.ID
}

func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func reason(q Question, r Result) (string, []string) {
	findings := []string{}
	if r.Population == 0 {
		return "no enabled user to judge", findings
	}
	if r.Covered {
		return fmt.Sprintf("%s is demanded for every sign-in of all %d users by %s", q.Demand, r.Population, strings.Join(r.Policies, ", ")), findings
	}
	var parts []string
	if len(r.Policies) == 0 {
		s := "no enabled policy demands " + q.Demand
		if len(r.NotEnforced) > 0 {
			s += " (only report-only or disabled ones: " + strings.Join(r.NotEnforced, ", ") + ")"
		}
		parts = append(parts, s)
		findings = append(findings, s)
	}
	if r.LeftOutCount > 0 && len(r.Policies) > 0 {
		s := fmt.Sprintf("%d of %d users left out: %s", r.LeftOutCount, r.Population, strings.Join(r.LeftOut, ", "))
		if r.LeftOutCount > len(r.LeftOut) {
			s += fmt.Sprintf(" and %d more", r.LeftOutCount-len(r.LeftOut))
		}
		parts = append(parts, s)
		findings = append(findings, r.LeftOut...)
	}
	if len(r.Conditions) > 0 || r.Example != "" && r.LeftOutCount < r.Population {
		s := "sign-ins escape"
		if len(r.Conditions) > 0 {
			s += " under " + strings.Join(r.Conditions, "; ")
		} else {
			s += ", e.g. " + r.Example
		}
		parts = append(parts, s)
		findings = append(findings, r.Conditions...)
		if len(r.Conditions) == 0 {
			findings = append(findings, r.Example)
		}
	}
	return q.Demand + " is not demanded everywhere: " + strings.Join(parts, "; "), findings
}

// Assess answers the given questions, keyed by Question.Key.
func Assess(t Tenant, qs ...Question) map[string]Result {
	out := make(map[string]Result, len(qs))
	for _, q := range qs {
		out[q.Key] = Evaluate(t, q)
	}
	return out
}
