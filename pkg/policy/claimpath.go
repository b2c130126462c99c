package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// claimValue is one label or annotation of a claim that a pathPattern may
// put into a path: a key the claim has, or one the pattern reads and the
// claim lacks (absent).
type claimValue struct {
	labels bool // a label, else an annotation
	key    string
	value  string
	absent bool
}

func (v claimValue) field() *field.Path {
	if v.labels {
		return field.NewPath("metadata", "labels").Key(v.key)
	}
	return field.NewPath("metadata", "annotations").Key(v.key)
}

// componentProblem says why v cannot stand alone as a path component, or
// "". Only values with a problem are suspects; every other value is always
// rendered as it is, so template comparisons on them keep working.
func componentProblem(v string) string {
	switch {
	case strings.Contains(v, "/"):
		return "must not contain '/'"
	case v == "." || v == "..":
		return `must not be "." or ".."`
	case v == "":
		return "must not be empty"
	case strings.HasPrefix(v, "."):
		return "must not start with '.': " + reservedDotNames
	case len(v) > maxComponentBytes:
		return fmt.Sprintf("must be at most %d bytes", maxComponentBytes)
	case !utf8.ValidString(v):
		return "must be valid UTF-8"
	}
	for _, r := range v {
		if r == 0 || unicode.IsControl(r) {
			return fmt.Sprintf("must not contain the control character %U", r)
		}
	}
	return ""
}

// claimPath renders a claim's directory, relative to the base path, and
// keeps every value that comes from the claim inside one path component.
//
// Which value is to blame is found by experiment, not by guessing at the
// template: the suspects (values with a componentProblem, and keys the
// pattern reads that the claim lacks) are replaced by harmless tokens, and
// then put back one at a time. A suspect is to blame when putting it back
// makes the rendering fail, or, for a value with a '/', changes the number
// of path components. Errors name the label or annotation, its value and
// the class; a failure no single value explains names the pattern.
func claimPath(pattern *PathPattern, className, pvName string, claim *corev1.PersistentVolumeClaim) (string, field.ErrorList) {
	data := func(vals []claimValue) patternData {
		labels, annotations := maps.Clone(claim.Labels), maps.Clone(claim.Annotations)
		for _, v := range vals {
			m := &annotations
			if v.labels {
				m = &labels
			}
			if v.absent {
				delete(*m, v.key)
				continue
			}
			if *m == nil {
				*m = map[string]string{}
			}
			(*m)[v.key] = v.value
		}
		return patternData{PVName: pvName, PVC: patternClaim{Namespace: claim.Namespace, Name: claim.Name, Labels: labels, Annotations: annotations}}
	}
	rendered, renderErr := pattern.render(data(nil))

	suspects := claimSuspects(pattern, claim)
	if len(suspects) == 0 && renderErr == nil {
		return rendered, nil
	}
	tokens := make([]claimValue, len(suspects))
	for i, s := range suspects {
		tokens[i] = claimValue{labels: s.labels, key: s.key, value: fmt.Sprintf("hostpath-value-%d", i)}
	}
	// with renders the claim with the suspects replaced by their tokens,
	// except suspect keep (-1: none), which keeps its own value.
	with := func(keep int) (string, error) {
		vals := slices.Clone(tokens)
		if keep >= 0 {
			vals[keep] = suspects[keep]
		}
		return pattern.render(data(vals))
	}
	clean, cleanErr := with(-1)
	if renderErr == nil && cleanErr == nil && rendered == clean {
		return rendered, nil // no suspect makes it into the path
	}

	var errs field.ErrorList
	for i, s := range suspects {
		var blame bool
		if cleanErr == nil {
			got, err := with(i)
			blame = err != nil || strings.Contains(s.value, "/") && components(got) != components(clean)
		} else if renderErr == nil {
			// The tokens break the pattern where the real values do not
			// (a comparison that picks another branch): compare with the
			// real rendering instead, one token at a time.
			vals := []claimValue{tokens[i]}
			got, err := pattern.render(data(vals))
			blame = err != nil || strings.Contains(s.value, "/") && components(got) != components(rendered)
		}
		if !blame {
			continue
		}
		detail := fmt.Sprintf("is used by the StorageClass %q pathPattern as a path component", className)
		if s.absent {
			errs = append(errs, field.Required(s.field(), detail))
			continue
		}
		errs = append(errs, field.Invalid(s.field(), s.value, detail+" and "+componentProblem(s.value)))
	}
	if len(errs) > 0 {
		return "", errs
	}
	if renderErr != nil {
		return "", field.ErrorList{field.Invalid(field.NewPath("metadata"), claim.Name,
			fmt.Sprintf("the directory for this claim cannot be made: StorageClass %q %v", className,
				field.Invalid(field.NewPath("parameters").Key(ParamPathPattern), pattern.String(),
					fmt.Sprintf("for claim %s/%s: %v", claim.Namespace, claim.Name, renderErr))))}
	}
	return rendered, nil
}

// claimSuspects lists, in a stable order, the claim's labels and
// annotations that could not stand alone as a path component, and the keys
// the pattern reads that the claim does not have.
func claimSuspects(pattern *PathPattern, claim *corev1.PersistentVolumeClaim) []claimValue {
	var out []claimValue
	add := func(labels bool, m map[string]string, read []string) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if componentProblem(m[k]) != "" {
				out = append(out, claimValue{labels: labels, key: k, value: m[k]})
			}
		}
		for _, k := range read {
			if _, ok := m[k]; !ok {
				out = append(out, claimValue{labels: labels, key: k, absent: true})
			}
		}
	}
	refs := referencedKeys(pattern.tmpl.Tree)
	add(true, claim.Labels, refs.labels)
	add(false, claim.Annotations, refs.annotations)
	return out
}

func components(p string) int { return strings.Count(p, "/") + 1 }
