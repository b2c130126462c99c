package framework

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// procRecord identifies a process we started, also from another process
// (`cluster down`) or after a crash.
type procRecord struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// StartTime is field 22 of /proc/<pid>/stat: with it a PID that the
	// kernel reused for somebody else's process is never signalled.
	StartTime string `json:"startTime"`
}

// process is a component started by this process.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{} // closed when the process has exited and been reaped
	waitErr error
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// startProcess runs bin with its output in <logs>/<name>.log, in a session of
// its own: a Ctrl-C on the terminal of `go test` must not kill the cluster
// half way, because the orderly Stop (or the next start) cleans up after it.
func startProcess(logDir, name, bin string, args, env []string) (*process, procRecord, error) {
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, procRecord{}, fmt.Errorf("opening log of %s: %w", name, err)
	}
	fmt.Fprintf(logFile, "### %s %s %s\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, procRecord{}, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, started: time.Now(), done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	st, _, _ := procStat(cmd.Process.Pid)
	return p, procRecord{Name: name, PID: cmd.Process.Pid, StartTime: st}, nil
}

// procStat returns the start time and the state letter of a process, or
// ok=false when there is no such process.
func procStat(pid int) (startTime string, state byte, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields we want are counted from the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0, false
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return "", 0, false
	}
	return fields[19], fields[0][0], true
}

// alive reports whether the recorded process still runs; a zombie counts as
// gone because it holds no resources but its PID.
func (r procRecord) alive() bool {
	st, state, ok := procStat(r.PID)
	if !ok || state == 'Z' || state == 'X' {
		return false
	}
	return r.StartTime == "" || st == r.StartTime
}

// stop sends SIGTERM, waits up to grace, then SIGKILL, and waits until the
// process is gone.
func (r procRecord) stop(ctx context.Context, grace time.Duration) error {
	if !r.alive() {
		return nil
	}
	if err := syscall.Kill(r.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling %s (pid %d): %w", r.Name, r.PID, err)
	}
	gone := func(context.Context) (bool, error) { return !r.alive(), nil }
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, grace, true, gone); err == nil {
		return nil
	}
	if r.alive() {
		if err := syscall.Kill(r.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("killing %s (pid %d): %w", r.Name, r.PID, err)
		}
	}
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, gone); err != nil {
		return fmt.Errorf("%s (pid %d) still running after SIGKILL: %w", r.Name, r.PID, err)
	}
	return nil
}

// tailFile returns the last n lines of a file, for error messages and
// failure dumps.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
