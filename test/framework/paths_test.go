package framework

import (
	"strings"
	"testing"
)

func TestMissingClusterBinariesNameTheMakeTarget(t *testing.T) {
	_, err := findBinaries(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "make cluster-bins") {
		t.Fatalf("want an error pointing at `make cluster-bins`, got %v", err)
	}
}
