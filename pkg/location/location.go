// Package location answers one question for every caller: where does a
// PersistentVolume's directory live (node, base path, path below it)? The
// provisioner's delete, the resizer, the usage collector and the node-gone
// release all ask here, so a rule about a PV's location (the original
// provisioner's PVs, a volume made under another base path, an annotation
// that disagrees with the PV's own source) is decided once.
//
// The PV's source path (spec.hostPath.path or spec.local.path) is the
// authority: the API server does not let anyone change it after creation,
// and it is what the kubelet mounts. Our annotations only say how to split
// it into base and relative path; when they disagree with it, the PV is
// not touched at all.
package location

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

// Location is where a volume's directory is.
type Location struct {
	// Node is the node whose base path holds the directory.
	Node string
	// Base is the absolute base path the directory was made under.
	Base string
	// Rel is the directory relative to Base: a SafeRelPath.
	Rel string
}

// Abs is the directory's absolute path on its node.
func (l Location) Abs() string { return path.Join(l.Base, l.Rel) }

// Ours reports whether a PV was made by this provisioner or the original.
func Ours(pv *corev1.PersistentVolume) bool {
	return pv.Annotations[policy.AnnNode] != "" || pv.Annotations[policy.AnnLegacyIdentity] != ""
}

// Of returns where pv's directory is, for an instance serving base. It
// refuses, with an error that says why, a PV that is not ours, one made
// under another base path, one without a hostPath or local source, one
// whose source lies outside base, and one whose hostpath.dev/path or
// hostpath.dev/base-path annotation disagrees with its source path.
func Of(pv *corev1.PersistentVolume, base string) (Location, error) {
	if !Ours(pv) {
		return Location{}, fmt.Errorf("PV %s was not made by hostpath-provisioner (it has neither %s nor %s)", pv.Name, policy.AnnNode, policy.AnnLegacyIdentity)
	}
	base = path.Clean(base)
	field, abs := SourcePath(pv)
	if abs == "" {
		return Location{}, fmt.Errorf("PV %s has neither a hostPath nor a local source; not touching it", pv.Name)
	}
	if !path.IsAbs(abs) || path.Clean(abs) != abs {
		return Location{}, fmt.Errorf("PV %s: %s %q is not a clean absolute path; not touching it", pv.Name, field, abs)
	}
	if b, ok := pv.Annotations[policy.AnnBasePath]; ok && path.Clean(b) != base {
		return Location{}, fmt.Errorf("PV %s was made under base path %s (annotation %s) but this instance serves %s; not touching it",
			pv.Name, b, policy.AnnBasePath, base)
	}
	rel, ok := strings.CutPrefix(abs, strings.TrimSuffix(base, "/")+"/")
	if !ok || policy.SafeRelPath(rel) != nil {
		return Location{}, fmt.Errorf("PV %s: %s %s is not inside the base path %s; not touching it", pv.Name, field, abs, base)
	}
	if ann, ok := pv.Annotations[policy.AnnPath]; ok && ann != rel {
		return Location{}, fmt.Errorf("PV %s: annotation %s=%q disagrees with %s %q (which would be %q below %s); not touching it",
			pv.Name, policy.AnnPath, ann, field, abs, rel, base)
	}
	return Location{Node: NodeOf(pv), Base: base, Rel: rel}, nil
}

// SourcePath returns the PV's source path and the field it is in.
func SourcePath(pv *corev1.PersistentVolume) (field, abs string) {
	switch {
	case pv.Spec.HostPath != nil:
		return "spec.hostPath.path", pv.Spec.HostPath.Path
	case pv.Spec.Local != nil:
		return "spec.local.path", pv.Spec.Local.Path
	}
	return "", ""
}

// NodeOf returns the node whose base path holds a volume: our annotation,
// the original provisioner's identity annotation, or the node affinity.
func NodeOf(pv *corev1.PersistentVolume) string {
	if n := pv.Annotations[policy.AnnNode]; n != "" {
		return n
	}
	if n := pv.Annotations[policy.AnnLegacyIdentity]; n != "" {
		return n
	}
	if na := pv.Spec.NodeAffinity; na != nil && na.Required != nil {
		for _, t := range na.Required.NodeSelectorTerms {
			for _, e := range t.MatchExpressions {
				if e.Key == corev1.LabelHostname && e.Operator == corev1.NodeSelectorOpIn && len(e.Values) == 1 {
					return e.Values[0]
				}
			}
		}
	}
	return ""
}

// OnNode reports whether pv is ours and lives on node: what every
// per-node reconciler asks before it acts on a PV.
func OnNode(pv *corev1.PersistentVolume, node string) bool {
	return Ours(pv) && NodeOf(pv) == node
}

// Resolve returns where pv's directory is for an instance serving several
// base paths (the directories of this node's configured base paths). The
// PV's hostpath.dev/base-path annotation picks one; a PV without it (the
// original provisioner's) belongs to the base path its source path lies
// in, the deepest one when base paths are nested. Then Of decides, so
// every rule of Of holds whichever base path is chosen.
func Resolve(pv *corev1.PersistentVolume, bases []string) (Location, error) {
	if b, ok := pv.Annotations[policy.AnnBasePath]; ok {
		for _, base := range bases {
			if path.Clean(base) == path.Clean(b) {
				return Of(pv, base)
			}
		}
		return Location{}, fmt.Errorf("PV %s was made under base path %s (annotation %s) but this instance serves %s; not touching it",
			pv.Name, b, policy.AnnBasePath, strings.Join(bases, ", "))
	}
	_, abs := SourcePath(pv)
	best := ""
	for _, base := range bases {
		b := strings.TrimSuffix(path.Clean(base), "/") + "/"
		if strings.HasPrefix(abs, b) && len(b) > len(best) {
			best = b
		}
	}
	if best == "" {
		switch {
		case !Ours(pv):
			return Of(pv, "") // refused as not ours, whatever the base
		case len(bases) == 1:
			return Of(pv, bases[0]) // its error names the one base path
		}
		field, _ := SourcePath(pv)
		return Location{}, fmt.Errorf("PV %s: %s %s is not inside the base paths of this instance (%s); not touching it",
			pv.Name, field, abs, strings.Join(bases, ", "))
	}
	return Of(pv, best)
}
