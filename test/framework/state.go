package framework

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// stateFile is written before the first change to the host and after every
// process start, so whoever finds it can undo the cluster.
type stateFile struct {
	NodeName  string       `json:"nodeName"`
	StartedAt time.Time    `json:"startedAt"`
	Processes []procRecord `json:"processes"`
	Host      hostSnapshot `json:"host"`
}

func readState(l layout) (stateFile, bool, error) {
	var st stateFile
	b, err := os.ReadFile(l.stateFile())
	if errors.Is(err, fs.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("reading cluster state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, false, fmt.Errorf("parsing cluster state %s: %w", l.stateFile(), err)
	}
	return st, true, nil
}

// writeState replaces the state file atomically: a crash while writing must
// not lose the PIDs already recorded.
func writeState(l layout, st stateFile) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding cluster state: %w", err)
	}
	tmp := l.stateFile() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("writing cluster state: %w", err)
	}
	if err := os.Rename(tmp, l.stateFile()); err != nil {
		return fmt.Errorf("writing cluster state: %w", err)
	}
	return nil
}
