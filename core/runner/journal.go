package runner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
)

// The run journal: <data_dir>/journal/<run id>/ holds run.json (what the run is) and
// envelopes.jsonl (one envelope per line, appended and fsynced in batches). It exists
// from a run's start until its manifest is sealed, so a journal found by the holder of the
// data-directory lock belongs to a process that died; Recover seals it as interrupted.
const (
	journalDir      = "journal"
	journalRunFile  = "run.json"
	journalSpool    = "envelopes.jsonl"
	journalSchema   = "exhibit.journal/v1"
	maxJournalLine  = 64 << 20
	journalDirPerm  = 0o700
	journalFilePerm = 0o600
)

// journalRun is run.json.
type journalRun struct {
	Schema    string            `json:"schema"`
	ID        string            `json:"id"`
	Type      manifest.Type     `json:"type"`
	StartedAt time.Time         `json:"started_at"`
	Host      string            `json:"host,omitempty"`
	Version   string            `json:"exhibit_version,omitempty"`
	PID       int               `json:"pid"`
	Instances []journalInstance `json:"instances"`
}

type journalInstance struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Version string `json:"version"`
	Late    bool   `json:"late,omitempty"`
}

type journal struct {
	dir   string
	spool *os.File
	buf   bytes.Buffer
	lines int
}

// journalSynced, if set (tests), is told how many envelopes a journal holds after each
// fsync.
var journalSynced func(lines int)

func createJournal(dataDir string, h manifest.Header, instances []Instance) (*journal, error) {
	dir := filepath.Join(dataDir, journalDir, h.ID)
	// Registered before it exists, so a concurrent run's Recover never takes it for the
	// journal of a dead process.
	activeJournals.Store(dir, struct{}{})
	ok := false
	defer func() {
		if !ok {
			activeJournals.Delete(dir)
		}
	}()
	if err := os.MkdirAll(dir, journalDirPerm); err != nil {
		return nil, fmt.Errorf("could not create the run journal: %w", err)
	}
	jr := journalRun{Schema: journalSchema, ID: h.ID, Type: h.Type, StartedAt: h.StartedAt, Host: h.Host, Version: h.Version, PID: os.Getpid()}
	for _, in := range instances {
		jr.Instances = append(jr.Instances, journalInstance{Name: in.Name, Type: in.Factory.Type(), Version: in.Factory.Version(), Late: in.Late})
	}
	b, err := json.MarshalIndent(jr, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileSync(filepath.Join(dir, journalRunFile), b); err != nil {
		return nil, fmt.Errorf("could not write the run journal: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, journalSpool), os.O_CREATE|os.O_WRONLY|os.O_APPEND, journalFilePerm)
	if err != nil {
		return nil, fmt.Errorf("could not create the run journal: %w", err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		f.Close()
		return nil, err
	}
	ok = true
	return &journal{dir: dir, spool: f}, nil
}

// close closes the spool and lets Recover take the journal if it is still there (the
// run could not be sealed). Closing twice is harmless.
func (j *journal) close() {
	if j.spool != nil {
		j.spool.Close()
		j.spool = nil
	}
	activeJournals.Delete(j.dir)
}

// append writes envelopes, one JSON line each, and fsyncs.
func (j *journal) append(envs []evidence.Envelope) error {
	j.buf.Reset()
	enc := json.NewEncoder(&j.buf)
	for i := range envs {
		if err := enc.Encode(&envs[i]); err != nil {
			return fmt.Errorf("could not journal an envelope: %w", err)
		}
	}
	if _, err := j.spool.Write(j.buf.Bytes()); err != nil {
		return fmt.Errorf("could not write the run journal: %w", err)
	}
	if err := j.spool.Sync(); err != nil {
		return fmt.Errorf("could not sync the run journal: %w", err)
	}
	j.lines += len(envs)
	if journalSynced != nil {
		journalSynced(j.lines)
	}
	return nil
}

// remove deletes the journal once its run is sealed.
func (j *journal) remove() error {
	if j.spool != nil {
		j.spool.Close()
		j.spool = nil
	}
	defer j.close()
	if err := os.RemoveAll(j.dir); err != nil {
		return err
	}
	return syncDir(filepath.Dir(j.dir))
}

// readJournal reads a journal left behind. A torn last line (the process died while
// writing it) is ignored; the lines before it are whole because each batch was fsynced.
func readJournal(dir string, fn func(evidence.Envelope) error) (journalRun, int, error) {
	var jr journalRun
	b, err := os.ReadFile(filepath.Join(dir, journalRunFile))
	if err != nil {
		return jr, 0, fmt.Errorf("could not read %s: %w", journalRunFile, err)
	}
	if err := json.Unmarshal(b, &jr); err != nil {
		return jr, 0, fmt.Errorf("could not read %s: %w", journalRunFile, err)
	}
	if jr.Schema != journalSchema || jr.ID == "" {
		return jr, 0, fmt.Errorf("%s: not a run journal (schema %q)", journalRunFile, jr.Schema)
	}
	f, err := os.Open(filepath.Join(dir, journalSpool))
	if errors.Is(err, os.ErrNotExist) {
		return jr, 0, nil
	}
	if err != nil {
		return jr, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxJournalLine)
	torn := 0
	for line := 1; sc.Scan(); line++ {
		var e evidence.Envelope
		if err := evidence.DecodeStrict(sc.Bytes(), &e); err != nil {
			torn++
			continue
		}
		if err := e.Validate(); err != nil {
			torn++
			continue
		}
		if err := fn(e); err != nil {
			return jr, torn, err
		}
	}
	if err := sc.Err(); err != nil {
		return jr, torn, fmt.Errorf("could not read %s: %w", journalSpool, err)
	}
	return jr, torn, nil
}

func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, journalFilePerm)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("could not sync %s: %w", dir, err)
	}
	return nil
}
