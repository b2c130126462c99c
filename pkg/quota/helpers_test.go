package quota

import "testing"

// must stops the test when a setup step fails, so that no test runs on a
// tree it did not build.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
