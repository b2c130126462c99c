package policy

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// DefaultPathPattern is the original provisioner's directory layout.
const DefaultPathPattern = "{{ .PVC.Namespace }}-{{ .PVC.Name }}-{{ .PVName }}"

// Limits of a rendered path. 255 bytes is NAME_MAX on every Linux
// filesystem we care about; the total keeps us far below PATH_MAX once the
// base path is prepended.
const (
	maxComponentBytes = 255
	maxPathBytes      = 2048
)

// patternClaim is the view of a claim a pathPattern may use.
type patternClaim struct {
	Namespace   string
	Name        string
	Labels      map[string]string
	Annotations map[string]string
}

// patternData is what a pathPattern is executed with.
type patternData struct {
	PVName string
	PVC    patternClaim
}

// PathPattern is a parsed, class-validated pathPattern.
type PathPattern struct {
	text       string
	tmpl       *template.Template
	usesPVName bool
}

// String returns the pattern as the user wrote it.
func (p *PathPattern) String() string { return p.text }

// UsesPVName reports whether every volume gets a fresh directory. Without
// the PV name, a re-created claim maps to the directory of its predecessor.
func (p *PathPattern) UsesPVName() bool { return p.usesPVName }

// parsePathPattern parses a pathPattern and proves, with sample claims, that
// it renders a safe relative path. Whatever it accepts is still checked
// again for every real claim by render, because label and annotation values
// are chosen by users.
func parsePathPattern(text string, fp *field.Path) (*PathPattern, field.ErrorList) {
	tmpl, err := template.New("pathPattern").Option("missingkey=zero").Parse(text)
	if err != nil {
		return nil, field.ErrorList{field.Invalid(fp, text, fmt.Sprintf("is not a valid Go template: %v", err))}
	}
	p := &PathPattern{text: text, tmpl: tmpl}

	refs := referencedKeys(tmpl.Tree)
	sample := func(ns, pv string) patternData {
		return patternData{PVName: pv, PVC: patternClaim{
			Namespace: ns, Name: "sample.claim-1",
			Labels: sampleMap(refs.labels), Annotations: sampleMap(refs.annotations),
		}}
	}
	a := sample("sample-namespace", "pvc-00000000-0000-0000-0000-00000000000a")
	b := sample("sample-namespace", "pvc-00000000-0000-0000-0000-00000000000b")
	ra, err := p.render(a)
	if err != nil {
		return nil, field.ErrorList{field.Invalid(fp, text, fmt.Sprintf("for a sample claim %s/%s: %v", a.PVC.Namespace, a.PVC.Name, err))}
	}
	rb, err := p.render(b)
	if err != nil {
		return nil, field.ErrorList{field.Invalid(fp, text, fmt.Sprintf("for a sample claim %s/%s: %v", b.PVC.Namespace, b.PVC.Name, err))}
	}
	p.usesPVName = ra != rb
	if !p.usesPVName {
		// Without the PV name, two namespaces could render the same path and
		// share data; the namespace as the first directory rules that out
		// (namespace names cannot contain '/').
		if first, _, _ := strings.Cut(ra, "/"); first != a.PVC.Namespace {
			return nil, field.ErrorList{field.Invalid(fp, text,
				"a pattern without {{ .PVName }} must put the namespace first as its own directory, for example {{ .PVC.Namespace }}/{{ .PVC.Name }}")}
		}
	}
	return p, nil
}

// render executes the pattern for one claim and checks the result: with
// SafeRelPath, and no component may start with '.', because such names in
// the base path are the provisioner's own (its registry
// .hostpath-provisioner, clone temporaries .clone-*, the readiness probe).
// The provisioner never uses an unchecked rendering. SafeRelPath alone stays
// the check for paths that existing PVs record, which older versions made.
func (p *PathPattern) render(d patternData) (string, error) {
	var buf bytes.Buffer
	if err := p.tmpl.Execute(&buf, d); err != nil {
		return "", fmt.Errorf("cannot be executed: %w", err)
	}
	out := buf.String()
	if err := SafeRelPath(out); err != nil {
		return "", fmt.Errorf("renders %q, which %w", out, err)
	}
	for c := range strings.SplitSeq(out, "/") {
		if strings.HasPrefix(c, ".") {
			return "", fmt.Errorf("renders %q, whose path component %q starts with '.': %s", out, c, reservedDotNames)
		}
	}
	return out, nil
}

// reservedDotNames says why no rendered component may start with '.'.
const reservedDotNames = "names starting with '.' are reserved for the provisioner's own files (.hostpath-provisioner, .clone-*, the readiness probe)"

// SafeRelPath reports why p cannot be used as a directory below the base
// path, or nil. It is deliberately strict: only plain relative paths whose
// every component is a real name; no way up, no way to the root, nothing a
// terminal or `ls` would show ambiguously.
func SafeRelPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("is empty")
	case len(p) > maxPathBytes:
		return fmt.Errorf("is longer than %d bytes", maxPathBytes)
	case !utf8.ValidString(p):
		return fmt.Errorf("is not valid UTF-8")
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("is absolute; it must be relative to the base path")
	}
	for _, r := range p {
		if r == 0 || unicode.IsControl(r) {
			return fmt.Errorf("contains the control character %U", r)
		}
	}
	for c := range strings.SplitSeq(p, "/") {
		switch {
		case c == "":
			return fmt.Errorf("has an empty path component (leading, trailing or double '/')")
		case c == "." || c == "..":
			return fmt.Errorf("has the path component %q", c)
		case len(c) > maxComponentBytes:
			return fmt.Errorf("has a path component longer than %d bytes", maxComponentBytes)
		}
	}
	return nil
}

func sampleMap(keys []string) map[string]string {
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k] = "sample-value"
	}
	return m
}

// templateRefs is what a template reads from a claim's labels and
// annotations, and the string constants it holds.
type templateRefs struct {
	labels, annotations []string // keys, sorted, without repeats
	strings             []string
}

// referencedKeys finds the label and annotation keys a template reads, as
// .PVC.Labels.key or index .PVC.Labels "key", so the sample claim can carry
// them: a pattern that uses a label must not fail validation for lacking it.
// It also collects the template's string constants, which PatternsCouldNest
// tries as values (a comparison's other branch).
func referencedKeys(tree *parse.Tree) (r templateRefs) {
	add := func(kind, key string) {
		switch kind {
		case "Labels":
			r.labels = append(r.labels, key)
		case "Annotations":
			r.annotations = append(r.annotations, key)
		}
	}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for i, a := range n.Args {
				if f, ok := a.(*parse.FieldNode); ok {
					if len(f.Ident) == 3 && f.Ident[0] == "PVC" {
						add(f.Ident[1], f.Ident[2])
					}
					if len(f.Ident) == 2 && f.Ident[0] == "PVC" && i+1 < len(n.Args) {
						if s, ok := n.Args[i+1].(*parse.StringNode); ok {
							add(f.Ident[1], s.Text)
						}
					}
				}
				if s, ok := a.(*parse.StringNode); ok {
					r.strings = append(r.strings, s.Text)
				}
				walk(a)
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(tree.Root)
	for _, keys := range []*[]string{&r.labels, &r.annotations} {
		slices.Sort(*keys)
		*keys = slices.Compact(*keys)
	}
	return r
}
