package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// The tenant's users and devices are computed from their index on every request instead of
// being held in memory, so a 50,000-user tenant costs the benchmark process (which also runs
// the connector whose memory is measured) next to nothing.

// Directory role template ids (built-in roles have a roleDefinition id equal to the template id).
const (
	RoleGlobalAdministrator            = "62e90394-69f5-4237-9190-012177145e10"
	RolePrivilegedRoleAdministrator    = "e8611ab8-c189-46e8-94e1-60213ab1f814"
	RoleSecurityAdministrator          = "194ae4cb-b126-40b2-bd5b-6091b380977d"
	RoleUserAdministrator              = "fe930be7-5e62-47db-91af-98c3a49a38b1"
	RoleExchangeAdministrator          = "29232cdf-9323-42fd-ade2-1d097af3e4de"
	RoleHelpdeskAdministrator          = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
	RoleGlobalReader                   = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
	RoleApplicationAdministrator       = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
	RolePrivilegedAuthenticationAdmin  = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13"
	RoleCloudApplicationAdministrator  = "158c047a-c907-4556-b7ef-446551a6b5f7"
	RoleConditionalAccessAdministrator = "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9"
)

var roleNames = map[string]string{
	RoleGlobalAdministrator:            "Global Administrator",
	RolePrivilegedRoleAdministrator:    "Privileged Role Administrator",
	RoleSecurityAdministrator:          "Security Administrator",
	RoleUserAdministrator:              "User Administrator",
	RoleExchangeAdministrator:          "Exchange Administrator",
	RoleHelpdeskAdministrator:          "Helpdesk Administrator",
	RoleGlobalReader:                   "Global Reader",
	RoleApplicationAdministrator:       "Application Administrator",
	RolePrivilegedAuthenticationAdmin:  "Privileged Authentication Administrator",
	RoleCloudApplicationAdministrator:  "Cloud Application Administrator",
	RoleConditionalAccessAdministrator: "Conditional Access Administrator",
}

// roleOrder lists the role definitions in a stable order.
var roleOrder = []string{
	RoleGlobalAdministrator, RolePrivilegedRoleAdministrator, RoleSecurityAdministrator, RoleUserAdministrator,
	RoleExchangeAdministrator, RoleHelpdeskAdministrator, RoleGlobalReader, RoleApplicationAdministrator,
	RolePrivilegedAuthenticationAdmin, RoleCloudApplicationAdministrator, RoleConditionalAccessAdministrator,
}

const domain = "contoso.example"

var firstNames = []string{"Adele", "Alex", "Allan", "Ben", "Christie", "Debra", "Diego", "Emily", "Enrico", "Grady",
	"Henrietta", "Irvin", "Isaiah", "Johanna", "Joni", "Lee", "Lidia", "Lynne", "Megan", "Miriam",
	"Nestor", "Patti", "Pradeep", "Raul", "Sanjay", "Tobias", "Ulrike", "Vera", "Wolfgang", "Yusuf"}

var lastNames = []string{"Vance", "Wilber", "Deyoung", "Walters", "Cline", "Berger", "Siciliani", "Braun", "Bianchi", "Archie",
	"Cerny", "Sayers", "Langer", "Lauer", "Sherman", "Gu", "Holloway", "Robbins", "Bowen", "Graham",
	"Wilke", "Fernandez", "Gupta", "Razi", "Kumar", "Schmidt", "Hoffmann", "Novak", "Krüger", "Yilmaz"}

// user is one simulated directory user.
type user struct {
	Index       int
	ID          string
	DisplayName string
	UPN         string
	Mail        string
	UserType    string // Member or Guest
	Enabled     bool
	Synced      bool
	Created     time.Time
	LastSignIn  *time.Time
	// LastSuccess is the last successful sign-in; LastSignIn also records failed attempts.
	LastSuccess    *time.Time
	Roles          []string // active (permanent or activated) directory roles
	EligibleRoles  []string // PIM-eligible roles (P2 only)
	Permanent      bool     // active assignments are permanent (not PIM-activated)
	MFARegistered  bool
	Methods        []string
	Fido2          int
	BreakGlass     bool
	IsAdmin        bool
	DefaultMFAType string
}

// guid derives a stable GUID-shaped id from the seed, a namespace and an index. The index is
// the id's last eight hex digits, so the simulator can find user i from its id without a map.
func (s *Sim) guid(ns string, i int) string {
	h := sha256.New()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], s.opts.Seed)
	binary.BigEndian.PutUint64(b[8:], uint64(i))
	h.Write(b[:])
	h.Write([]byte(ns))
	sum := h.Sum(nil)
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%04x%08x", binary.BigEndian.Uint32(sum[0:4]), binary.BigEndian.Uint16(sum[4:6]),
		binary.BigEndian.Uint16(sum[6:8])&0x0fff, binary.BigEndian.Uint16(sum[8:10])&0x3fff|0x8000,
		binary.BigEndian.Uint16(sum[10:12]), uint32(i))
}

// indexOf returns the index of an id made by guid(ns, i), or -1.
func (s *Sim) indexOf(ns, id string, n int) int {
	if len(id) != 36 {
		return -1
	}
	var i uint32
	if _, err := fmt.Sscanf(id[28:], "%08x", &i); err != nil || int(i) >= n || s.guid(ns, int(i)) != id {
		return -1
	}
	return int(i)
}

func (s *Sim) nameOf(i int) (first, last string, suffix int) {
	off := int(s.opts.Seed % uint64(len(firstNames)))
	f := (i + off) % len(firstNames)
	l := (i/len(firstNames) + i*7 + off) % len(lastNames)
	return firstNames[f], lastNames[l], i / (len(firstNames) * len(lastNames))
}

var umlauts = strings.NewReplacer("ü", "ue", "ö", "oe", "ä", "ae")

func asciiLower(s string) string { return umlauts.Replace(strings.ToLower(s)) }

// user returns user i. Users 0 and 1 are the break-glass accounts; 2..4 are global
// administrators in the demo tenant (5 in total: one of the demo's deliberate failures);
// 5 and 6 hold other privileged roles; 7 is stale in the demo; 9 has no MFA in the demo.
func (s *Sim) user(i int) user {
	now := s.now().UTC().Truncate(time.Second)
	first, last, suffix := s.nameOf(i)
	u := user{Index: i, ID: s.guid("user", i), UserType: "Member", Enabled: true, MFARegistered: true,
		Created: now.Add(-400 * 24 * time.Hour).Add(time.Duration(i) * time.Minute)}
	local := asciiLower(first) + "." + asciiLower(last)
	if suffix > 0 {
		local += fmt.Sprint(suffix)
	}
	u.DisplayName = first + " " + last
	u.UPN = local + "@" + domain
	u.Mail = u.UPN
	u.Synced = i%2 == 0 && i >= 10
	u.Methods = []string{"microsoftAuthenticatorPush", "softwareOneTimePasscode"}
	u.DefaultMFAType = "microsoftAuthenticatorPush"
	signIn := now.Add(-time.Duration(i%20)*24*time.Hour - time.Duration(i%24)*time.Hour)
	u.LastSignIn = &signIn
	bad := s.opts.Posture == PostureBad
	good := s.opts.Posture == PostureGood
	if i >= 10 && i%10 == 0 {
		u.UserType = "Guest"
		u.Synced = false
		u.UPN = local + "_partner.example#EXT#@" + domain
		u.Mail = local + "@partner.example"
	}
	switch {
	case i <= 1:
		u.BreakGlass = true
		u.DisplayName = fmt.Sprintf("Emergency Access %02d", i+1)
		u.UPN = fmt.Sprintf("bg-admin-%02d@%s", i+1, domain)
		u.Mail = ""
		u.Roles = []string{RoleGlobalAdministrator}
		u.Permanent = true
		u.Fido2 = 1
		u.Methods = []string{"fido2"}
		u.DefaultMFAType = "fido2"
		u.Synced = false
		if bad {
			u.Fido2 = 0
			u.Methods = []string{"mobilePhone"}
			u.DefaultMFAType = "mobilePhone"
		}
		// Break-glass accounts are used rarely; a monthly test sign-in keeps them fresh.
		t := now.Add(-25 * 24 * time.Hour)
		u.LastSignIn = &t
	case i == 2:
		u.Roles = []string{RoleGlobalAdministrator}
	case i == 3 || i == 4:
		if good {
			u.EligibleRoles = []string{RoleGlobalAdministrator}
		} else {
			u.Roles = []string{RoleGlobalAdministrator}
		}
	case i == 5:
		u.Roles = []string{RoleSecurityAdministrator}
	case i == 6:
		u.Roles = []string{RoleUserAdministrator}
	case bad && i >= 7 && i <= 9:
		u.Roles = []string{RoleGlobalAdministrator}
	}
	if len(u.Roles) > 0 || len(u.EligibleRoles) > 0 {
		u.IsAdmin = true
		if !u.BreakGlass {
			u.Permanent = bad || s.opts.Posture == PostureDemo
			if good {
				// In the good tenant admins hold their roles through PIM: eligible, activated
				// for a limited time when needed.
				u.EligibleRoles = append(u.EligibleRoles, u.Roles...)
			}
		}
		if bad && i >= 2 {
			u.Synced = true
		}
	}
	switch {
	case s.opts.Posture == PostureDemo && i == 7:
		// A leaver whose password is being tried: failed attempts two days ago, the last
		// successful sign-in 200 days ago.
		t, ok := now.Add(-2*24*time.Hour), now.Add(-200*24*time.Hour)
		u.LastSignIn, u.LastSuccess = &t, &ok
	case good && i == 8:
		// A disabled leaver that has not signed in for long: not a finding.
		u.Enabled = false
		t := now.Add(-300 * 24 * time.Hour)
		u.LastSignIn = &t
	case bad && i >= 7 && i%5 == 0:
		t := now.Add(-(120 + time.Duration(i%50)) * 24 * time.Hour)
		u.LastSignIn = &t
	case bad && i == 11:
		u.LastSignIn = nil
	}
	if u.LastSuccess == nil {
		u.LastSuccess = u.LastSignIn
	}
	switch {
	case s.opts.Posture == PostureDemo && i == 9:
		u.MFARegistered = false
	case bad && i >= 7 && i%3 == 0:
		u.MFARegistered = false
	}
	if !u.MFARegistered {
		u.Methods = []string{}
		u.DefaultMFAType = "none"
	}
	return u
}

// device is one simulated Intune managed device.
type device struct {
	ID, Name, OS, OSVersion, Compliance, OwnerType, UserID, UPN, UserDisplayName string
	Encrypted                                                                    bool
	LastSync, Enrolled                                                           time.Time
	// Windows protection state (Windows devices only).
	RealTime, SignatureOverdue bool
}

var osCycle = []string{"Windows", "Windows", "Windows", "macOS", "iOS", "Android", "Windows", "iOS", "Windows", "Android"}

var osVersions = map[string]string{"Windows": "10.0.22631.4460", "macOS": "14.6.1", "iOS": "17.6.1", "Android": "14"}

// device returns managed device i. In the demo tenant device 3 (a Mac) is non-compliant.
func (s *Sim) device(i int) device {
	now := s.now().UTC().Truncate(time.Second)
	osName := osCycle[i%len(osCycle)]
	owner := s.user(12 + i%max(1, s.opts.Users-12))
	if owner.UserType == "Guest" {
		owner = s.user(11)
	}
	first := strings.SplitN(owner.DisplayName, " ", 2)[0]
	d := device{ID: s.guid("device", i), OS: osName, OSVersion: osVersions[osName], Compliance: "compliant",
		OwnerType: "company", UserID: owner.ID, UPN: owner.UPN, UserDisplayName: owner.DisplayName,
		Encrypted: true, LastSync: now.Add(-time.Duration(i%24) * time.Hour), Enrolled: now.Add(-200 * 24 * time.Hour),
		RealTime: true}
	switch osName {
	case "Windows":
		d.Name = fmt.Sprintf("CONTOSO-W%05d", i)
	case "macOS":
		d.Name = first + "'s MacBook Pro"
	case "iOS":
		d.Name = first + "'s iPhone"
	default:
		d.Name = fmt.Sprintf("Galaxy-S24-%05d", i)
		d.OwnerType = "personal"
	}
	switch s.opts.Posture {
	case PostureDemo:
		if i == 3 {
			d.Compliance = "noncompliant"
		}
	case PostureBad:
		if i%4 == 3 {
			d.Compliance = "noncompliant"
		}
		if i%5 == 1 {
			d.Encrypted = false
		}
		if i%6 == 2 {
			d.LastSync = now.Add(-30 * 24 * time.Hour)
		}
		if i%3 == 0 {
			d.RealTime = false
			d.SignatureOverdue = true
		}
	}
	return d
}
