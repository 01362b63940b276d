package config

import (
	"path/filepath"
	"time"
)

// Defaults. The embedded default config is Default(): an fs store in ./exhibit-data, no
// connectors.
const (
	DefaultDataDir       = "./exhibit-data"
	DefaultSchedule      = "0 2 * * *"
	DefaultListen        = "127.0.0.1:9464"
	DefaultConcurrency   = 4
	DefaultTimeout       = 30 * time.Minute
	DefaultRunDeadline   = 2 * time.Hour
	DefaultMaxPages      = 1000
	DefaultMaxAttempts   = 5
	DefaultMaxRetryAfter = 2 * time.Minute
	DefaultFreshness     = 48 * time.Hour
)

// Default returns the embedded default config.
func Default() *Config {
	c := &Config{pos: map[string]int{}}
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	if c.pos == nil {
		c.pos = map[string]int{}
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "auto"
	}
	if c.Store.Type == "" {
		c.Store.Type = "fs"
	}
	if c.Store.S3.Region == "" {
		c.Store.S3.Region = "us-east-1"
	}
	r := &c.Runner
	if r.Concurrency == 0 {
		r.Concurrency = DefaultConcurrency
	}
	if r.Timeout == 0 {
		r.Timeout = DefaultTimeout
	}
	if r.RunDeadline == 0 {
		r.RunDeadline = DefaultRunDeadline
	}
	if r.MaxPages == 0 {
		r.MaxPages = DefaultMaxPages
	}
	if r.MaxAttempts == 0 {
		r.MaxAttempts = DefaultMaxAttempts
	}
	if r.MaxRetryAfter == 0 {
		r.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if c.Schedule.Default == "" {
		c.Schedule.Default = DefaultSchedule
	}
	if c.Schedule.TimeZone == "" {
		c.Schedule.TimeZone = "UTC"
	}
	if c.Schedule.CatchUp == nil {
		t := true
		c.Schedule.CatchUp = &t
	}
	if c.Server.Listen == "" {
		c.Server.Listen = DefaultListen
	}
	if c.Controls.Freshness == 0 {
		c.Controls.Freshness = DefaultFreshness
	}
}

// DataPath returns the data directory, absolute.
func (c *Config) DataPath() string { return c.Resolve(c.DataDir) }

// StoreDir returns the fs store's directory, absolute.
func (c *Config) StoreDir() string {
	if c.Store.FS.Dir != "" {
		return c.Resolve(c.Store.FS.Dir)
	}
	return filepath.Join(c.DataPath(), "store")
}

// KeyDir returns the signing key directory, absolute.
func (c *Config) KeyDir() string {
	if c.Signing.KeyDir != "" {
		return c.Resolve(c.Signing.KeyDir)
	}
	return filepath.Join(c.DataPath(), "keys")
}

// IndexPath returns the SQLite index path, absolute.
func (c *Config) IndexPath() string {
	if c.Index.Path != "" {
		return c.Resolve(c.Index.Path)
	}
	return filepath.Join(c.DataPath(), "index.db")
}

// ScheduleFor returns the cron schedule of a connector instance.
func (c *Config) ScheduleFor(cc ConnectorConfig) string {
	if cc.Schedule != "" {
		return cc.Schedule
	}
	return c.Schedule.Default
}

// TimeoutFor returns the timeout of a connector instance.
func (c *Config) TimeoutFor(cc ConnectorConfig) time.Duration {
	if cc.Timeout != 0 {
		return cc.Timeout
	}
	return c.Runner.Timeout
}
