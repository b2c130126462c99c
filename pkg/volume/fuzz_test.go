package volume

import (
	"path"
	"strings"
	"testing"
	"time"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

// FuzzDerivedNames: every name the store derives from a volume's path (the
// archive it is renamed to, the temporary sibling a clone is built in) is
// a safe path whenever the volume's path is, and stays where it must: an
// archive is one entry at the top of the base path, a clone's temporary
// directory is a sibling of the clone.
func FuzzDerivedNames(f *testing.F) {
	for _, seed := range []string{
		"ns-claim-pvc-1", "ns/claim", "a/b/c/d", "..", "../x", "/abs", "x\x00y", "ünïcødé/ß",
		strings.Repeat("ß", 120), // an archive name cut inside a character was invalid UTF-8
		strings.Repeat("n", 255), strings.Repeat("n", 254) + "/" + strings.Repeat("m", 255), "trailing/", ".clone-x", "archived-x",
	} {
		f.Add(seed)
	}
	stamp := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, rel string) {
		if policy.SafeRelPath(rel) != nil {
			return // never reaches the store
		}
		archive := ArchiveName(rel, stamp)
		if err := policy.SafeRelPath(archive); err != nil || strings.Contains(archive, "/") || !strings.HasPrefix(archive, "archived-") {
			t.Errorf("ArchiveName(%q) = %q: not one safe entry (%v)", rel, archive, err)
		}
		tmp := cloneTempName(rel)
		if err := policy.SafeRelPath(tmp); err != nil || path.Dir(tmp) != path.Dir(rel) || tmp == rel || !strings.HasPrefix(path.Base(tmp), ".clone-") {
			t.Errorf("cloneTempName(%q) = %q: not a safe sibling (%v)", rel, tmp, err)
		}
	})
}
