package policy

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// SampleVolume is one rendering of a pattern for a sample claim.
type SampleVolume struct {
	Pattern *PathPattern
	// Path is the directory, relative to the base path.
	Path string
	// Claim describes the sample claim: namespace/name, and the labels and
	// annotations the pattern reads, for example
	// "sample-namespace/claim-b (labels app=claim-a)".
	Claim    string
	name, pv string // the sample claim's name and its volume's
}

// Nesting is an example of one volume's directory inside another's.
type Nesting struct {
	Outer, Inner SampleVolume
}

// Sample claims for PatternsCouldNest: one namespace, two names, two PVs.
// Label and annotation values are drawn from these names and from the path
// components the patterns render, because a tenant can choose a value
// equal to another claim's name or PV name (its own claims' UIDs are not
// secret to it).
const (
	nestNamespace = "sample-namespace"
	nestClaimA    = "claim-a"
	nestClaimB    = "claim-b"
	nestPVA       = "pvc-00000000-0000-0000-0000-00000000000a"
	nestPVB       = "pvc-00000000-0000-0000-0000-00000000000b"
	nestValue     = "sample-value"
)

// Bounds on the work of PatternsCouldNest, which runs wherever a class is
// validated: every combination of values while there are at most
// nestAllCombinations, else each key varied alone against a few
// backgrounds.
const (
	nestMaxValues       = 12
	nestAllCombinations = 64
)

// PatternsCouldNest reports whether a volume of pattern a and a volume of
// pattern b (a and b may be the same pattern) could get directories one
// inside the other, with an example. It renders both patterns for sample
// claims of one namespace (names equal and different, distinct PV names,
// the label and annotation keys the patterns read absent and present with
// several values) and looks for one rendering that is a proper prefix, by
// path components, of a rendering for another volume. Patterns it cannot
// tell about (keys read through variables) may still nest; the
// provisioner's check on disk is the last word.
func PatternsCouldNest(a, b *PathPattern) (Nesting, bool) {
	values := nestValues(a, b)
	ra := nestRenderings(a, values)
	rb := ra
	if b != a {
		rb = nestRenderings(b, values)
	}
	// Two claims of different names are the plainer example (claims of
	// one name can only follow each other); one of them is also found when
	// it is the only one.
	for _, sameName := range []bool{false, true} {
		if n, ok := inside(ra, rb, sameName); ok {
			return n, true
		}
		if n, ok := inside(rb, ra, sameName); ok && a != b {
			return n, true
		}
	}
	return Nesting{}, false
}

// inside finds a rendering in inner that lies below one in outer for
// another volume, of a claim of another name unless sameName.
func inside(inner, outer []SampleVolume, sameName bool) (Nesting, bool) {
	byPath := map[string][]SampleVolume{}
	for _, o := range outer {
		byPath[o.Path] = append(byPath[o.Path], o)
	}
	for _, in := range inner {
		for i := range len(in.Path) {
			if in.Path[i] != '/' {
				continue
			}
			for _, o := range byPath[in.Path[:i]] {
				if o.pv != in.pv && (o.name == in.name) == sameName {
					return Nesting{Outer: o, Inner: in}, true
				}
			}
		}
	}
	return Nesting{}, false
}

// nestValues are the label and annotation values tried: the sample names,
// the patterns' string constants, and the components both patterns render
// for the plain samples.
func nestValues(patterns ...*PathPattern) []string {
	values := []string{nestNamespace, nestClaimA, nestClaimB, nestPVA, nestPVB, nestValue}
	add := func(v string) {
		if len(values) < nestMaxValues && v != "" && !slices.Contains(values, v) {
			values = append(values, v)
		}
	}
	for _, p := range patterns {
		refs := referencedKeys(p.tmpl.Tree)
		for _, s := range refs.strings {
			add(s)
		}
		for _, v := range []string{"", nestValue} {
			d := nestData(nestClaimA, nestPVA, fill(refs.labels, v), fill(refs.annotations, v))
			out, err := p.render(d)
			if err != nil {
				continue
			}
			for c := range strings.SplitSeq(out, "/") {
				add(c)
			}
		}
	}
	return values
}

func fill(keys []string, v string) map[string]string {
	m := map[string]string{}
	if v != "" {
		for _, k := range keys {
			m[k] = v
		}
	}
	return m
}

func nestData(name, pv string, labels, annotations map[string]string) patternData {
	return patternData{PVName: pv, PVC: patternClaim{Namespace: nestNamespace, Name: name, Labels: labels, Annotations: annotations}}
}

// nestRenderings renders p for every sample claim, as claimPath does for
// real ones (claimPath itself where a value could not stand alone as a
// component, plain rendering is the same elsewhere); a claim that is
// refused gets no volume, so it cannot nest.
func nestRenderings(p *PathPattern, values []string) []SampleVolume {
	refs := referencedKeys(p.tmpl.Tree)
	keys := make([]claimValue, 0, len(refs.labels)+len(refs.annotations))
	for _, k := range refs.labels {
		keys = append(keys, claimValue{labels: true, key: k})
	}
	for _, k := range refs.annotations {
		keys = append(keys, claimValue{key: k})
	}
	var out []SampleVolume
	for _, combo := range nestCombinations(len(keys), len(values)+1) {
		lm, am := map[string]string{}, map[string]string{}
		var desc []string
		plain := true // no value that claimPath would look into
		for i, vi := range combo {
			if vi == 0 {
				continue // absent
			}
			m, kind := am, "annotations"
			if keys[i].labels {
				m, kind = lm, "labels"
			}
			m[keys[i].key] = values[vi-1]
			plain = plain && componentProblem(values[vi-1]) == ""
			desc = append(desc, fmt.Sprintf("%s %s=%s", kind, keys[i].key, values[vi-1]))
		}
		for _, name := range []string{nestClaimA, nestClaimB} {
			for _, pv := range []string{nestPVA, nestPVB} {
				var path string
				var err error
				if plain {
					path, err = p.render(nestData(name, pv, lm, am))
				} else {
					c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: nestNamespace, Name: name, Labels: lm, Annotations: am}}
					var errs field.ErrorList
					path, errs = claimPath(p, "", pv, c)
					err = errs.ToAggregate()
				}
				if err != nil {
					continue
				}
				claim := nestNamespace + "/" + name
				if len(desc) > 0 {
					claim += " (" + strings.Join(desc, ", ") + ")"
				}
				out = append(out, SampleVolume{Pattern: p, Path: path, Claim: claim, name: name, pv: pv})
			}
		}
	}
	return out
}

// nestCombinations lists assignments of n keys to one of m values (0 is
// "absent"): all of them when there are few, else every key alone on every
// value while the others are absent or all on value 1.
func nestCombinations(n, m int) [][]int {
	total := 1
	for range n {
		total *= m
		if total > nestAllCombinations {
			break
		}
	}
	if total <= nestAllCombinations {
		out := make([][]int, 0, total)
		for i := range total {
			c := make([]int, n)
			for k, x := 0, i; k < n; k, x = k+1, x/m {
				c[k] = x % m
			}
			out = append(out, c)
		}
		return out
	}
	var out [][]int
	for _, background := range []int{0, 1} {
		for k := range n {
			for v := range m {
				c := make([]int, n)
				for i := range c {
					c[i] = background
				}
				c[k] = v
				out = append(out, c)
			}
		}
	}
	return out
}
