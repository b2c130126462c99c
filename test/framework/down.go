package framework

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Down stops the cluster recorded in stateDir (started by this or another
// process, or crashed) and undoes its changes to the host: processes,
// container processes and shims, mounts, node IP, bridge, iptables chains,
// sysctls, cgroups and created host directories. Logs stay in <state>/logs.
// Without a state file it only unmounts leftovers under stateDir.
func Down(ctx context.Context, stateDir string, logf func(string, ...any)) error {
	if logf == nil {
		logf = stderrLogf
	}
	l := layout{dir: stateDir}
	st, found, err := readState(l)
	if err != nil {
		return err
	}
	if !found && len(mountsUnder(stateDir)) == 0 {
		return nil
	}
	t0 := time.Now()
	var errs []error
	if found {
		errs = append(errs, stopProcesses(ctx, st.Processes)...)
		errs = append(errs, killContainers(ctx, l, st.Host.CgroupDirs)...)
	}
	if err := unmountUnder(stateDir); err != nil {
		errs = append(errs, err)
	}
	for _, p := range st.Host.CreatedPaths {
		if err := unmountUnder(p); err != nil {
			errs = append(errs, err)
		}
	}
	if found {
		errs = append(errs, st.Host.restore()...)
	}
	if err := clearStateDir(l); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		// Keep the state file: running `cluster down` again retries.
		return err
	}
	if err := os.Remove(l.stateFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing state file: %w", err)
	}
	if found {
		logf("cluster stopped and host cleaned up in %.1fs (logs in %s)", time.Since(t0).Seconds(), l.logs())
	}
	return nil
}

// stopProcesses stops everything but etcd at once, then etcd, so that the
// apiserver does not spend its shutdown retrying a vanished etcd.
func stopProcesses(ctx context.Context, procs []procRecord) []error {
	var first, last []procRecord
	for _, p := range procs {
		if p.Name == "etcd" {
			last = append(last, p)
		} else {
			first = append(first, p)
		}
	}
	var errs []error
	for _, group := range [][]procRecord{first, last} {
		fns := make([]func() error, len(group))
		for i, p := range group {
			fns[i] = func() error { return p.stop(ctx, 15*time.Second) }
		}
		if err := parallel(func() {}, fns...); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// killContainers kills what the kubelet left running: the processes in the
// kubepods cgroups this cluster created, and this containerd's shims (they
// leave containerd's process tree, so their command line tells them apart).
func killContainers(ctx context.Context, l layout, cgroupDirs []string) []error {
	var victims []procRecord
	for _, d := range cgroupDirs {
		for _, pid := range cgroupPIDs(d) {
			st, _, _ := procStat(pid)
			victims = append(victims, procRecord{Name: "container process", PID: pid, StartTime: st})
		}
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !l.isOurShim(strings.ReplaceAll(string(cmdline), "\x00", " ")) {
			continue
		}
		st, _, _ := procStat(pid)
		victims = append(victims, procRecord{Name: "containerd shim", PID: pid, StartTime: st})
	}
	var errs []error
	for _, v := range victims {
		if err := syscall.Kill(v.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("killing %s %d: %w", v.Name, v.PID, err))
		}
	}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		for _, v := range victims {
			if v.alive() {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("container processes survived SIGKILL: %w", err))
	}
	return errs
}

// clearStateDir removes everything but the logs, which stay for a look
// after the failure that made someone run `cluster down`.
func clearStateDir(l layout) error {
	if m := mountsUnder(l.dir); len(m) > 0 {
		return fmt.Errorf("not clearing %s: still mounted: %s", l.dir, strings.Join(m, ", "))
	}
	entries, err := os.ReadDir(l.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading state dir: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if e.Name() == "logs" || e.Name() == filepath.Base(l.stateFile()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(l.dir, e.Name())); err != nil {
			errs = append(errs, fmt.Errorf("clearing state dir: %w", err))
		}
	}
	return errors.Join(errs...)
}
