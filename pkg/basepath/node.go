package basepath

import (
	"fmt"
	"strings"
)

// Resolved is one base path as it is on one node.
type Resolved struct {
	Name string
	// Dir is the directory on this node; "" when the node has none.
	Dir              string
	MustBeMountpoint bool
}

// ForNode resolves every base path to its directory on node. Two base
// paths must not share a directory or lie one inside the other on the same
// node: one's volumes could then be made inside the other's tree.
func (c *Config) ForNode(node string) ([]Resolved, error) {
	out := make([]Resolved, 0, len(c.BasePaths))
	var errs []string
	for _, b := range c.BasePaths {
		r := Resolved{Name: b.Name, Dir: b.DirFor(node), MustBeMountpoint: b.MustBeMountpoint}
		for _, o := range out {
			if r.Dir != "" && o.Dir != "" && (within(r.Dir, o.Dir) || within(o.Dir, r.Dir)) {
				errs = append(errs, fmt.Sprintf("base paths %q (%s) and %q (%s) overlap on node %s; each needs a directory of its own, neither inside the other",
					o.Name, o.Dir, r.Name, r.Dir, node))
			}
		}
		out = append(out, r)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}

// within reports whether dir is parent or below it.
func within(dir, parent string) bool {
	return dir == parent || strings.HasPrefix(dir, strings.TrimSuffix(parent, "/")+"/")
}
