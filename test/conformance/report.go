package conformance

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// specReport is the part of a ginkgo JSON report entry we read.
type specReport struct {
	ContainerHierarchyTexts []string
	LeafNodeText            string
	LeafNodeLabels          []string
	State                   string
	RunTime                 time.Duration
	Failure                 *struct {
		Message  string
		Location struct{ FileName, LineNumber any }
	}
	// CapturedGinkgoWriterOutput holds the spec's log; its last lines say
	// where a failure happened.
	CapturedGinkgoWriterOutput string
}

func (s specReport) name() string {
	return strings.TrimSpace(strings.Join(append(append([]string{}, s.ContainerHierarchyTexts...), s.LeafNodeText), " "))
}

// summary counts a run's specs by state; only It nodes count.
type summary struct {
	counts map[string]int
	failed []specReport
	passed []specReport
	// skipped are the specs that were selected but skipped themselves,
	// saying why (a capability the driver does not claim, one node only);
	// specs left out by --focus and --skip are not reported.
	skipped []specReport
}

func readReport(path string) (summary, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return summary{}, err
	}
	var suites []struct {
		SpecReports []struct {
			specReport
			LeafNodeType string
		}
	}
	if err := json.Unmarshal(raw, &suites); err != nil {
		return summary{}, fmt.Errorf("decoding ginkgo report %s: %w", path, err)
	}
	s := summary{counts: map[string]int{}}
	for _, suite := range suites {
		for _, r := range suite.SpecReports {
			if r.LeafNodeType != "It" {
				continue
			}
			if r.State == "skipped" && (r.Failure == nil || r.Failure.Message == "") {
				continue // not selected
			}
			s.counts[r.State]++
			switch r.State {
			case "passed":
				s.passed = append(s.passed, r.specReport)
			case "skipped":
				s.skipped = append(s.skipped, r.specReport)
			case "pending":
			default: // failed, panicked, interrupted, aborted, timedout
				s.failed = append(s.failed, r.specReport)
			}
		}
	}
	for _, l := range [][]specReport{s.passed, s.skipped} {
		sort.Slice(l, func(i, j int) bool { return l[i].name() < l[j].name() })
	}
	return s, nil
}

func (s summary) String() string {
	var b strings.Builder
	states := make([]string, 0, len(s.counts))
	for k := range s.counts {
		states = append(states, k)
	}
	sort.Strings(states)
	for _, k := range states {
		fmt.Fprintf(&b, "%s=%d ", k, s.counts[k])
	}
	return strings.TrimSpace(b.String())
}

// The specs log the figures with k8s.io/utils/dump.Pretty, which writes
// "AvgLatency: (time.Duration) 1234567890," and "Throughput: (float64) 3.25".
var (
	avgLatency = regexp.MustCompile(`AvgLatency:\s*(?:\(time\.Duration\)\s*)?([0-9]+)`)
	throughput = regexp.MustCompile(`Throughput:\s*(?:\(float64\)\s*)?([0-9.]+)`)
)

// performance is what a performance spec measured (it logs the figures it
// checks against the driver definition's bounds), or "" for other specs.
func (s specReport) performance() string {
	// The baseline is logged the same way before the measured figures,
	// which follow "Metrics to evaluate".
	_, out, found := strings.Cut(s.CapturedGinkgoWriterOutput, "Metrics to evaluate")
	if !found {
		return ""
	}
	l, t := avgLatency.FindStringSubmatch(out), throughput.FindStringSubmatch(out)
	if l == nil || t == nil {
		return ""
	}
	ns, err := strconv.ParseInt(l[1], 10, 64)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("average latency %s, throughput %s claims/s", time.Duration(ns).Round(time.Millisecond), t[1])
}
