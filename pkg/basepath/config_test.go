package basepath

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseListsEveryError(t *testing.T) {
	_, err := Parse([]byte(`
basePaths:
- name: Bulk
  path: relative/dir
- name: fast
  nodes: {node-b: /data/../etc, node-a: /}
- name: fast
  path: /mnt/fast
- name: empty
`))
	if err == nil {
		t.Fatal("Parse accepted an invalid configuration")
	}
	for _, want := range []string{
		`basePaths[0].name="Bulk": must be a base path name: a lowercase RFC 1123 label`,
		`basePaths[0].path="relative/dir": must be a clean absolute path other than /`,
		`basePaths[1].nodes[node-a]="/": must be a clean absolute path other than /`,
		`basePaths[1].nodes[node-b]="/data/../etc": must be a clean absolute path other than /`,
		`basePaths[2].name="fast": already the name of basePaths[1]; names must be unique`,
		`basePaths[3].path="": a base path needs a path (for every node) or nodes (a path per node)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not contain %q", err, want)
		}
	}
}

func TestParseRefusesUnknownFields(t *testing.T) {
	_, err := Parse([]byte("basePaths:\n- name: bulk\n  path: /mnt/bulk\n  mountPoint: true\n"))
	if err == nil || !strings.Contains(err.Error(), `unknown field "mountPoint"`) {
		t.Fatalf("err = %v, want the misspelt field named", err)
	}
}

func TestLoadAddsTheDefaultBasePathFromTheFlag(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte("basePaths:\n- name: bulk\n  path: /mnt/bulk\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file, "/var/kubernetes", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Names(), ","); got != "default,bulk" {
		t.Errorf("names %s, want default,bulk", got)
	}
	if d := c.BasePaths[0].DirFor("any-node"); d != "/var/kubernetes" {
		t.Errorf("default is %s, want the flag's /var/kubernetes", d)
	}

	// Without a file: today's single base path.
	c, err = Load("", "/srv/volumes", true)
	if err != nil || len(c.BasePaths) != 1 || c.BasePaths[0].Path != "/srv/volumes" {
		t.Fatalf("Load without a file = %+v, %v", c, err)
	}

	// The file may define default itself, but not as well as the flag.
	if err := os.WriteFile(file, []byte("basePaths:\n- name: default\n  path: /data\n  mustBeMountpoint: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(file, "/var/kubernetes", false); err != nil || c.BasePaths[0].Path != "/data" {
		t.Errorf("the file's default = %+v, %v; want /data", c, err)
	}
	if _, err := Load(file, "/var/kubernetes", true); err == nil || !strings.Contains(err.Error(), `basePaths[0].name="default": also given as --base-path`) {
		t.Errorf("err = %v, want the conflict named", err)
	}
}

func TestABasePathResolvesPerNode(t *testing.T) {
	c, err := Parse([]byte(`
basePaths:
- name: bulk
  path: /mnt/bulk
  nodes: {node-b: /data, node-c: ""}
- name: fast
  nodes: {node-a: /mnt/nvme}
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ node, bulk, fast string }{
		{node: "node-a", bulk: "/mnt/bulk", fast: "/mnt/nvme"},
		{node: "node-b", bulk: "/data", fast: ""},
		{node: "node-c", bulk: "", fast: ""},
		{node: "unlisted", bulk: "/mnt/bulk", fast: ""},
	}
	for _, tt := range tests {
		rs, err := c.ForNode(tt.node)
		if err != nil {
			t.Fatal(err)
		}
		if rs[0].Dir != tt.bulk || rs[1].Dir != tt.fast {
			t.Errorf("on %s: bulk=%q fast=%q, want %q and %q", tt.node, rs[0].Dir, rs[1].Dir, tt.bulk, tt.fast)
		}
	}
}

func TestBasePathsMustNotOverlapOnANode(t *testing.T) {
	c, err := Parse([]byte(`
basePaths:
- name: bulk
  path: /mnt/bulk
- name: inner
  path: /srv/inner
  nodes: {node-b: /mnt/bulk/inner}
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ForNode("node-a"); err != nil {
		t.Errorf("separate directories on node-a: %v", err)
	}
	if _, err := c.ForNode("node-b"); err == nil || !strings.Contains(err.Error(), `base paths "bulk" (/mnt/bulk) and "inner" (/mnt/bulk/inner) overlap on node node-b`) {
		t.Errorf("err = %v, want the overlap named", err)
	}
}
