package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// RunFunc starts the process for validated options; Main takes it as a
// parameter so flag handling is tested without starting any server.
type RunFunc func(ctx context.Context, o *Options) error

// Main parses args and runs; it returns the process exit code.
func Main(ctx context.Context, args []string, env getenv, stderr io.Writer, run RunFunc) int {
	if len(args) > 0 && args[0] == "check" {
		return mainCheck(ctx, args[1:], env, stderr)
	}
	o, err := Parse(args, env, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "hostpath-provisioner: invalid configuration:\n%v\n", err)
		return 2
	}
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(stderr, "hostpath-provisioner: %v\n", err)
		return 1
	}
	return 0
}

// mainCheck runs `hostpath-provisioner check`: it prints a report to
// standard output and exits non-zero when the installation is broken.
func mainCheck(ctx context.Context, args []string, env getenv, stderr io.Writer) int {
	o, err := parseCheck(args, env, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if err := Check(ctx, o, os.Stdout); err != nil {
		fmt.Fprintf(stderr, "hostpath-provisioner check: %v\n", err)
		return 1
	}
	return 0
}
