package failpoint

import "testing"

func TestParseArmsOnlyNamedPoints(t *testing.T) {
	m := parse(" after-mkdir, mid-delete ,,")
	if !m[AfterMkdir] || !m[MidDelete] || m[AfterArchive] || len(m) != 2 {
		t.Errorf("parsed %v", m)
	}
	if parse("") != nil {
		t.Error("an empty variable must arm nothing")
	}
}

func TestUnarmedPointsAreInert(t *testing.T) {
	// The test process has no failpoints armed: reaching here proves Crash
	// returned, for every point.
	for _, p := range []string{AfterMkdir, AfterPVCreate, MidDelete, AfterArchive, BeforeDeletePV} {
		if Armed(p) {
			t.Fatalf("%s armed in a normal run", p)
		}
		Crash(p)
	}
}
