// Package config is Exhibit's configuration: exported defaults that need no file at all,
// a strict YAML loader whose errors name file and line, and validation.
//
// Secrets never appear in the config: settings name where a secret is read from
// (`*_env: VARIABLE` or `*_file: path`), and Secrets resolves them when a command needs them.
// Relative paths in a config file are relative to the directory of that file.
package config

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration.
type Config struct {
	// DataDir holds the fs store, the index and the signing key unless configured elsewhere.
	DataDir    string            `yaml:"data_dir"`
	Log        LogConfig         `yaml:"log"`
	Store      StoreConfig       `yaml:"store"`
	Signing    SigningConfig     `yaml:"signing"`
	Index      IndexConfig       `yaml:"index"`
	Runner     RunnerConfig      `yaml:"runner"`
	Schedule   ScheduleConfig    `yaml:"schedule"`
	Server     ServerConfig      `yaml:"server"`
	Controls   ControlsConfig    `yaml:"controls"`
	Connectors []ConnectorConfig `yaml:"connectors"`

	// File is the path the config was loaded from; empty for the embedded default.
	File string `yaml:"-"`
	// pos maps key paths ("store.s3.bucket", "connectors[1].type") to their line.
	pos map[string]int
}

// LogConfig configures log/slog output.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // auto (default: text on a terminal, JSON otherwise), text, json
}

// StoreConfig says where evidence objects are kept.
type StoreConfig struct {
	Type string   `yaml:"type"` // fs (default) or s3
	FS   FSConfig `yaml:"fs"`
	S3   S3Config `yaml:"s3"`
}

// FSConfig configures the local filesystem store.
type FSConfig struct {
	// Dir defaults to <data_dir>/store.
	Dir string `yaml:"dir"`
}

// S3Config configures an S3-compatible store (AWS S3, MinIO, ...).
type S3Config struct {
	Endpoint  string `yaml:"endpoint"` // e.g. https://s3.eu-central-1.amazonaws.com or http://127.0.0.1:9000
	Bucket    string `yaml:"bucket"`
	Prefix    string `yaml:"prefix"` // optional key prefix inside the bucket
	Region    string `yaml:"region"`
	PathStyle bool   `yaml:"path_style"`
	// AccessKeyEnv / SecretKeyEnv (or the *_file forms) name where the credentials are read
	// from. Leave all empty to use the AWS credential chain (env, shared config, IMDS/IRSA).
	AccessKeyEnv  string `yaml:"access_key_env"`
	AccessKeyFile string `yaml:"access_key_file"`
	SecretKeyEnv  string `yaml:"secret_key_env"`
	SecretKeyFile string `yaml:"secret_key_file"`
	// CAFile is an extra PEM CA bundle for a private endpoint.
	CAFile     string            `yaml:"ca_file"`
	ObjectLock *ObjectLockConfig `yaml:"object_lock"`
}

// ObjectLockConfig makes every stored object immutable for a retention period.
type ObjectLockConfig struct {
	Mode       string `yaml:"mode"` // COMPLIANCE or GOVERNANCE
	RetainDays int    `yaml:"retain_days"`
	LegalHold  bool   `yaml:"legal_hold"`
}

// SigningConfig says where the signing key lives.
type SigningConfig struct {
	// KeyDir holds signing.key (PKCS#8 PEM, 0600), signing.pub and allowed_signers.
	// Defaults to <data_dir>/keys.
	KeyDir string `yaml:"key_dir"`
}

// IndexConfig configures the query index (rebuildable from the store).
type IndexConfig struct {
	// Path defaults to <data_dir>/index.db (SQLite).
	Path string `yaml:"path"`
}

// RunnerConfig bounds a collection run.
type RunnerConfig struct {
	Concurrency   int           `yaml:"concurrency"`     // connector instances at once; default 4
	Timeout       time.Duration `yaml:"timeout"`         // per connector instance; default 30m
	RunDeadline   time.Duration `yaml:"run_deadline"`    // whole run; default 2h
	MaxPages      int           `yaml:"max_pages"`       // per listing; default 1000
	MaxAttempts   int           `yaml:"max_attempts"`    // per request; default 5
	MaxRetryAfter time.Duration `yaml:"max_retry_after"` // cap on one rate-limit wait; default 2m
}

// ScheduleConfig configures `exhibit serve`.
type ScheduleConfig struct {
	// Default is the cron schedule of connectors that set none: standard 5 fields or
	// @daily, @hourly, @every 6h. Default "0 2 * * *".
	Default  string        `yaml:"default"`
	TimeZone string        `yaml:"time_zone"` // IANA name, default UTC
	Jitter   time.Duration `yaml:"jitter"`    // random delay added to each start, default 0
	// CatchUp runs a missed run once at start-up (recorded as late). Default true.
	CatchUp *bool `yaml:"catch_up"`
}

// ServerConfig configures the HTTP listener of `exhibit serve`.
type ServerConfig struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:9464
}

// ControlsConfig adds rules, frameworks and decisions to the built-in catalogues.
type ControlsConfig struct {
	// Rules are extra rules files (same format as a connector's rules.yaml).
	Rules []string `yaml:"rules"`
	// Frameworks are custom framework files.
	Frameworks []string `yaml:"frameworks"`
	// Disabled turns off rules, each with a recorded justification.
	Disabled []DisabledRule `yaml:"disabled"`
	// Overrides change a rule's parameters (thresholds) without copying it.
	Overrides []RuleOverride `yaml:"overrides"`
	// Applicability excludes controls from the Statement of Applicability, with reasons.
	Applicability []Applicability `yaml:"applicability"`
	// Freshness is how old the newest evidence of a control may be before it is stale;
	// default 48h.
	Freshness time.Duration `yaml:"freshness"`
}

// DisabledRule turns off one rule.
type DisabledRule struct {
	Rule          string `yaml:"rule"`
	Justification string `yaml:"justification"`
}

// RuleOverride sets parameters of one rule.
type RuleOverride struct {
	Rule   string         `yaml:"rule"`
	Params map[string]any `yaml:"params"`
}

// Applicability records a decision about one control of a framework.
type Applicability struct {
	Framework     string `yaml:"framework"`
	Control       string `yaml:"control"`
	Applicable    bool   `yaml:"applicable"`
	Justification string `yaml:"justification"`
}

// ConnectorConfig is one connector instance.
type ConnectorConfig struct {
	// Name identifies the instance in runs, envelopes and metrics, e.g. "aws-prod".
	Name string `yaml:"name"`
	// Type is a registered connector type: aws, github, msgraph.
	Type string `yaml:"type"`
	// Schedule overrides schedule.default for this instance.
	Schedule string `yaml:"schedule"`
	// Timeout overrides runner.timeout for this instance.
	Timeout time.Duration `yaml:"timeout"`
	// RequestTimeout bounds each upstream request of this instance, from sending it to the
	// end of its response; 0 means the default (1m). Between 1s and the instance's timeout.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	Disabled       bool          `yaml:"disabled"`
	// Settings is the connector's own section, decoded strictly by the connector.
	Settings yaml.Node `yaml:"settings"`
}
