package framework

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Scrape reads one metric from a Prometheus /metrics endpoint at addr and
// sums its samples by the value of label ("" for samples without it).
func Scrape(t testing.TB, addr, metric, label string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scraping %s: %v", addr, err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		key := ""
		if i := strings.Index(line, label+`="`); label != "" && i >= 0 {
			rest := line[i+len(label)+2:]
			key = rest[:strings.IndexByte(rest, '"')]
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		out[key] += v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading %s/metrics: %v", addr, err)
	}
	return out
}
