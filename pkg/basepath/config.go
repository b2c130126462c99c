// Package basepath is the process's set of base paths: the configuration
// that names them (a file, usually a ConfigMap, plus --base-path as the
// base path "default"), which directory each name is on this node, and the
// one volume store opened per base path. A base path that is missing, not
// writable or not the mount point it must be fails on its own: its
// classes are refused with an error naming it, the others keep working.
package basepath

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"sigs.k8s.io/yaml"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

// Config is the configuration file.
//
//	basePaths:
//	- name: bulk
//	  path: /mnt/bulk          # every node not listed in nodes
//	  nodes:
//	    node-b: /data/bulk     # this node has the disk elsewhere
//	    node-c: ""             # and this one has none
//	  mustBeMountpoint: true   # its own filesystem, never the root's
type Config struct {
	BasePaths []BasePath `json:"basePaths"`
}

// BasePath is one named base path: a directory per node.
type BasePath struct {
	// Name is what a StorageClass's basePath parameter names.
	Name string `json:"name"`
	// Path is the directory on nodes that Nodes does not list; "" means
	// such nodes have none.
	Path string `json:"path,omitempty"`
	// Nodes maps node names to their directory ("": none on that node).
	Nodes map[string]string `json:"nodes,omitempty"`
	// MustBeMountpoint says the directory must be a filesystem of its own
	// (another device than its parent directory's), so a disk that did not
	// mount is noticed instead of filled.
	MustBeMountpoint bool `json:"mustBeMountpoint,omitempty"`
}

// DirFor is the base path's directory on node, or "" when it has none
// there.
func (b BasePath) DirFor(node string) string {
	if d, ok := b.Nodes[node]; ok {
		return d
	}
	return b.Path
}

// Load reads and validates the configuration file and adds the default
// base path (--base-path) unless the file defines "default" itself.
// defaultExplicit says --base-path or PV_DIR was given: then the file must
// not define "default" too, since one of the two would be ignored.
func Load(file, defaultPath string, defaultExplicit bool) (*Config, error) {
	c := &Config{}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading base path configuration: %w", err)
		}
		if c, err = Parse(data); err != nil {
			return nil, err
		}
	}
	if i := c.index(policy.DefaultBasePathName); i >= 0 {
		if defaultExplicit {
			return nil, fmt.Errorf("basePaths[%d].name=%q: also given as --base-path (or PV_DIR) %s; set it in one place", i, policy.DefaultBasePathName, defaultPath)
		}
		return c, nil
	}
	def := BasePath{Name: policy.DefaultBasePathName, Path: defaultPath}
	c.BasePaths = append([]BasePath{def}, c.BasePaths...)
	return c, c.Validate()
}

// Parse reads a configuration (YAML or JSON; unknown fields are errors, a
// typo must not silently drop a setting) and validates it.
func Parse(data []byte) (*Config, error) {
	c := &Config{}
	if err := yaml.UnmarshalStrict(data, c); err != nil {
		return nil, fmt.Errorf("parsing base path configuration: %w", err)
	}
	return c, c.Validate()
}

// Validate reports every error at once, naming field, value and what is
// allowed.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field string, value any, allowed string) {
		errs = append(errs, fmt.Errorf("%s=%v: %s", field, value, allowed))
	}
	seen := map[string]int{}
	for i, b := range c.BasePaths {
		fp := fmt.Sprintf("basePaths[%d]", i)
		if err := policy.ValidateBasePathName(b.Name); err != nil {
			bad(fp+".name", strconv.Quote(b.Name), err.Error())
		} else if j, dup := seen[b.Name]; dup {
			bad(fp+".name", strconv.Quote(b.Name), fmt.Sprintf("already the name of basePaths[%d]; names must be unique", j))
		}
		seen[b.Name] = i
		if b.Path != "" {
			if err := checkDir(b.Path); err != nil {
				bad(fp+".path", strconv.Quote(b.Path), err.Error())
			}
		}
		nodes := make([]string, 0, len(b.Nodes))
		for n := range b.Nodes {
			nodes = append(nodes, n)
		}
		slices.Sort(nodes) // stable error order
		for _, n := range nodes {
			if d := b.Nodes[n]; d != "" {
				if err := checkDir(d); err != nil {
					bad(fmt.Sprintf("%s.nodes[%s]", fp, n), strconv.Quote(d), err.Error())
				}
			}
		}
		if b.Path == "" && len(b.Nodes) == 0 {
			bad(fp+".path", `""`, "a base path needs a path (for every node) or nodes (a path per node)")
		}
	}
	return errors.Join(errs...)
}

func checkDir(d string) error {
	if !filepath.IsAbs(d) || filepath.Clean(d) != d || d == "/" {
		return errors.New("must be a clean absolute path other than /")
	}
	return nil
}

func (c *Config) index(name string) int {
	return slices.IndexFunc(c.BasePaths, func(b BasePath) bool { return b.Name == name })
}

// Names are the configured base path names, in the file's order.
func (c *Config) Names() []string {
	out := make([]string, len(c.BasePaths))
	for i, b := range c.BasePaths {
		out[i] = b.Name
	}
	return out
}
