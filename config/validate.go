package config

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

var instanceNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Validate checks the whole config and returns every problem found, each with file:line
// where known.
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add(c.Errorf("log.level", "unknown level %q (want debug, info, warn or error)", c.Log.Level))
	}
	switch c.Log.Format {
	case "auto", "text", "json":
	default:
		add(c.Errorf("log.format", "unknown format %q (want auto, text or json)", c.Log.Format))
	}
	add(c.validateStore())
	r := c.Runner
	if r.Concurrency < 1 || r.Concurrency > 256 {
		add(c.Errorf("runner.concurrency", "must be between 1 and 256, got %d", r.Concurrency))
	}
	for key, d := range map[string]time.Duration{"runner.timeout": r.Timeout, "runner.run_deadline": r.RunDeadline, "runner.max_retry_after": r.MaxRetryAfter} {
		if d < 0 {
			add(c.Errorf(key, "must not be negative, got %s", d))
		}
	}
	if r.MaxPages < 1 {
		add(c.Errorf("runner.max_pages", "must be at least 1, got %d", r.MaxPages))
	}
	if r.MaxAttempts < 1 || r.MaxAttempts > 20 {
		add(c.Errorf("runner.max_attempts", "must be between 1 and 20, got %d", r.MaxAttempts))
	}
	if _, err := time.LoadLocation(c.Schedule.TimeZone); err != nil {
		add(c.Errorf("schedule.time_zone", "unknown time zone %q", c.Schedule.TimeZone))
	}
	if err := ValidateCron(c.Schedule.Default); err != nil {
		add(c.Errorf("schedule.default", "%v", err))
	}
	if c.Schedule.Jitter < 0 || c.Schedule.Jitter > MaxJitter {
		add(c.Errorf("schedule.jitter", "must be between 0 and %s, got %s", MaxJitter, c.Schedule.Jitter))
	}
	if len(c.Connectors) > MaxConnectors {
		add(c.Errorf("connectors", "%d connector instances, more than the %d a config may have (split the data directory, or widen what one instance collects)", len(c.Connectors), MaxConnectors))
	}
	for i, d := range c.Controls.Disabled {
		key := fmt.Sprintf("controls.disabled[%d]", i)
		if d.Rule == "" {
			add(c.Errorf(key+".rule", "is required"))
		}
		if strings.TrimSpace(d.Justification) == "" {
			add(c.Errorf(key+".justification", "is required: a disabled rule needs a recorded reason"))
		}
	}
	for i, a := range c.Controls.Applicability {
		key := fmt.Sprintf("controls.applicability[%d]", i)
		if a.Framework == "" || a.Control == "" {
			add(c.Errorf(key, "framework and control are required"))
		}
		if !a.Applicable && strings.TrimSpace(a.Justification) == "" {
			add(c.Errorf(key+".justification", "is required when a control is excluded"))
		}
	}
	seen := map[string]int{}
	for i, cc := range c.Connectors {
		key := fmt.Sprintf("connectors[%d]", i)
		if !instanceNameRE.MatchString(cc.Name) {
			add(c.Errorf(key+".name", "%q is not a valid instance name (lower-case letters, digits, - and _, starting with a letter or digit)", cc.Name))
		}
		if j, dup := seen[cc.Name]; dup && cc.Name != "" {
			add(c.Errorf(key+".name", "%q is already used by connectors[%d]", cc.Name, j))
		}
		seen[cc.Name] = i
		if cc.Type == "" {
			add(c.Errorf(key+".type", "is required"))
		}
		if cc.Schedule != "" {
			if err := ValidateCron(cc.Schedule); err != nil {
				add(c.Errorf(key+".schedule", "%v", err))
			}
		}
		if cc.Timeout < 0 {
			add(c.Errorf(key+".timeout", "must not be negative"))
		}
		if rt := cc.RequestTimeout; rt != 0 && (rt < time.Second || rt > c.TimeoutFor(cc) && c.TimeoutFor(cc) > 0) {
			add(c.Errorf(key+".request_timeout", "must be between 1s and the instance's timeout (%s), got %s", c.TimeoutFor(cc), rt))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) validateStore() error {
	var errs []error
	switch c.Store.Type {
	case "fs":
	case "s3":
		s := c.Store.S3
		if s.Bucket == "" {
			errs = append(errs, c.Errorf("store.s3.bucket", "is required for store type s3"))
		}
		if s.Endpoint != "" && !strings.HasPrefix(s.Endpoint, "http://") && !strings.HasPrefix(s.Endpoint, "https://") {
			errs = append(errs, c.Errorf("store.s3.endpoint", "%q must start with http:// or https://", s.Endpoint))
		}
		if s.AccessKeyEnv != "" && s.AccessKeyFile != "" {
			errs = append(errs, c.Errorf("store.s3.access_key_env", "set access_key_env or access_key_file, not both"))
		}
		if s.SecretKeyEnv != "" && s.SecretKeyFile != "" {
			errs = append(errs, c.Errorf("store.s3.secret_key_env", "set secret_key_env or secret_key_file, not both"))
		}
		hasAK := s.AccessKeyEnv != "" || s.AccessKeyFile != ""
		hasSK := s.SecretKeyEnv != "" || s.SecretKeyFile != ""
		if hasAK != hasSK {
			errs = append(errs, c.Errorf("store.s3", "access key and secret key must be configured together"))
		}
		if ol := s.ObjectLock; ol != nil {
			if ol.Mode != "COMPLIANCE" && ol.Mode != "GOVERNANCE" {
				errs = append(errs, c.Errorf("store.s3.object_lock.mode", "%q is not an Object Lock mode (want COMPLIANCE or GOVERNANCE)", ol.Mode))
			}
			if ol.RetainDays < 1 || ol.RetainDays > 36500 {
				errs = append(errs, c.Errorf("store.s3.object_lock.retain_days", "must be between 1 and 36500, got %d", ol.RetainDays))
			}
		}
	default:
		errs = append(errs, c.Errorf("store.type", "unknown store type %q (want fs or s3)", c.Store.Type))
	}
	return errors.Join(errs...)
}

// Limits of a config, beyond which a value is a mistake rather than a choice.
const (
	// MinEvery is the shortest "@every" interval: the finest step of a 5-field cron
	// schedule. (cron would run "@every 1ns" or "@every -1h" every second.)
	MinEvery = time.Minute
	// MaxJitter is the longest schedule.jitter: a start delayed by more than a day lands
	// on another day's run.
	MaxJitter = 24 * time.Hour
	// MaxConnectors is the most connector instances one config may list.
	MaxConnectors = 1000
)

// ValidateCron checks a schedule: standard 5-field cron or a descriptor (@daily, @every 6h,
// at least MinEvery).
func ValidateCron(spec string) error {
	if _, err := cron.ParseStandard(spec); err != nil {
		return fmt.Errorf("invalid schedule %q: %v", spec, err)
	}
	if d, ok := strings.CutPrefix(spec, "@every "); ok {
		every, err := time.ParseDuration(d)
		if err != nil {
			return fmt.Errorf("invalid schedule %q: %v", spec, err)
		}
		if every < MinEvery {
			return fmt.Errorf("invalid schedule %q: the interval must be at least %s", spec, MinEvery)
		}
	}
	return nil
}

// CheckConnectorTypes reports connector instances whose type is not one of known.
func (c *Config) CheckConnectorTypes(known []string) error {
	ok := map[string]bool{}
	for _, k := range known {
		ok[k] = true
	}
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	var errs []error
	for i, cc := range c.Connectors {
		if cc.Type != "" && !ok[cc.Type] {
			errs = append(errs, c.Errorf(fmt.Sprintf("connectors[%d].type", i), "unknown connector type %q (known: %s)", cc.Type, strings.Join(sorted, ", ")))
		}
	}
	return errors.Join(errs...)
}
