package policy

import (
	"fmt"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ClaimClassName returns the StorageClass a claim asks for and whether it
// asks at all. The beta annotation wins over spec.storageClassName, as in
// the PV controller. An explicit "" is an answer (set is true): it means
// "bind to a pre-made volume without a class", never "give me the default".
func ClaimClassName(claim *corev1.PersistentVolumeClaim) (name string, set bool) {
	if v, ok := claim.Annotations[AnnBetaStorageClass]; ok {
		return v, true
	}
	if claim.Spec.StorageClassName != nil {
		return *claim.Spec.StorageClassName, true
	}
	return "", false
}

// PreMadeVolume says why a class-less claim asks for a volume that already
// exists ("spec.volumeName names PersistentVolume x", "spec.selector
// matches pre-made PersistentVolumes by label"), or "" when it does not.
// Such a claim is left without a class: it binds to its static volume as
// it would on a cluster without us, where nothing gives it a class. (Kubernetes'
// own DefaultStorageClass plugin would; the webhook and the default-class
// reconciler, which stand in for it where no class is marked default, do
// not.)
func PreMadeVolume(claim *corev1.PersistentVolumeClaim) string {
	switch {
	case claim.Spec.VolumeName != "":
		return fmt.Sprintf("spec.volumeName names PersistentVolume %q", claim.Spec.VolumeName)
	case claim.Spec.Selector != nil:
		return "spec.selector matches pre-made PersistentVolumes by label"
	}
	return ""
}

// IsDefaultClass reports whether a StorageClass is marked as the cluster
// default, by the GA or the beta annotation.
func IsDefaultClass(class *storagev1.StorageClass) bool {
	return class.Annotations[AnnIsDefaultClass] == "true" || class.Annotations[AnnBetaIsDefaultClass] == "true"
}

// ClusterDefaultClass returns the class Kubernetes gives class-less claims,
// or nil when none is marked default. With several marked, Kubernetes picks
// the newest (ties: the first name), so this does too: our view of "the
// default" must be the one the DefaultStorageClass admission plugin and the
// PV controller act on.
func ClusterDefaultClass(classes []storagev1.StorageClass) *storagev1.StorageClass {
	var defaults []*storagev1.StorageClass
	for i := range classes {
		if IsDefaultClass(&classes[i]) {
			defaults = append(defaults, &classes[i])
		}
	}
	if len(defaults) == 0 {
		return nil
	}
	sort.Slice(defaults, func(i, j int) bool {
		ti, tj := defaults[i].CreationTimestamp, defaults[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return tj.Before(&ti)
		}
		return defaults[i].Name < defaults[j].Name
	})
	return defaults[0]
}

// ValidateStorageClass checks a StorageClass of ours: every parameter, the
// class fields a directory cannot honour, and whether its pathPattern could
// put one of its volumes inside another of its volumes. others are the
// other StorageClasses of our provisioner, given when a class is created:
// its pattern is then also checked against theirs, both ways (classes with
// the class's own name, and invalid ones, which provision nothing, are
// skipped, and so are classes on another base path, whose volumes cannot
// meet). basePaths are the names of the base paths the process is
// configured with: a class naming another is refused with the list (nil:
// not known to the caller, only the name's syntax is checked). The
// returned parameters are usable only when the error list is empty.
func ValidateStorageClass(class *storagev1.StorageClass, basePaths []string, others ...storagev1.StorageClass) (*ClassParameters, field.ErrorList) {
	params, errs := parseClassParameters(class.Parameters)
	if err := validateKnownBasePath(params, basePaths); err != nil {
		errs = append(errs, err)
	}
	if class.ReclaimPolicy != nil && *class.ReclaimPolicy == corev1.PersistentVolumeReclaimRecycle {
		// Recycle would make kube-controller-manager start a scrubber pod
		// that runs rm -rf in the volume; onDelete says what we do instead.
		errs = append(errs, field.NotSupported(field.NewPath("reclaimPolicy"), string(corev1.PersistentVolumeReclaimRecycle),
			[]string{string(corev1.PersistentVolumeReclaimDelete), string(corev1.PersistentVolumeReclaimRetain)}))
	}
	if len(class.MountOptions) > 0 && params != nil && params.VolumeType == VolumeTypeHostPath {
		// The kubelet refuses to mount a hostPath volume with mount options
		// ("mount options are not supported for this volume type"), so every
		// pod would hang in ContainerCreating. A local volume supports them.
		errs = append(errs, field.Forbidden(field.NewPath("mountOptions"),
			fmt.Sprintf("%v: the kubelet does not support mount options for hostPath volumes; remove mountOptions or set parameters.%s: %s",
				class.MountOptions, ParamVolumeType, VolumeTypeLocal)))
	}
	if params != nil && params.Pattern != nil {
		errs = append(errs, validateNesting(class.Name, params, others)...)
	}
	return params, errs
}

// validateNesting refuses a pattern whose volumes could be inside one
// another's, or inside (or around) those of the other classes.
func validateNesting(name string, params *ClassParameters, others []storagev1.StorageClass) field.ErrorList {
	pattern := params.Pattern
	fp := field.NewPath("parameters").Key(ParamPathPattern)
	names := map[*PathPattern]string{pattern: name}
	if n, ok := selfNesting(pattern); ok {
		return field.ErrorList{field.Invalid(fp, pattern.String(), fmt.Sprintf(
			"could put one volume's directory inside another's: %s", describeNesting(n, names)))}
	}
	var errs field.ErrorList
	for i := range others {
		o := &others[i]
		if o.Name == name {
			continue
		}
		op, oerrs := parseClassParameters(o.Parameters)
		if len(oerrs) > 0 || op.BasePath != params.BasePath {
			continue
		}
		names[op.Pattern] = o.Name
		if n, ok := PatternsCouldNest(pattern, op.Pattern); ok {
			errs = append(errs, field.Invalid(fp, pattern.String(), fmt.Sprintf(
				"could put volumes of StorageClass %q and of StorageClass %q (pathPattern %q) inside one another: %s",
				name, o.Name, op.Pattern.String(), describeNesting(n, names))))
		}
	}
	return errs
}

func describeNesting(n Nesting, names map[*PathPattern]string) string {
	return fmt.Sprintf("StorageClass %q would make %q for claim %s, inside %q that StorageClass %q would make for claim %s",
		names[n.Inner.Pattern], n.Inner.Path, n.Inner.Claim, n.Outer.Path, names[n.Outer.Pattern], n.Outer.Claim)
}

// selfNestingCache remembers PatternsCouldNest(p, p) by pattern text: every
// claim's admission and provisioning validates its class, the answer
// depends on the text alone, and for a pattern that reads several labels
// it takes milliseconds. Patterns are few (one a class); a full cache just
// stops remembering.
var selfNestingCache = struct {
	sync.Mutex
	m map[string]*Nesting
}{m: map[string]*Nesting{}}

const selfNestingCacheSize = 256

func selfNesting(p *PathPattern) (Nesting, bool) {
	c := &selfNestingCache
	c.Lock()
	n, ok := c.m[p.text]
	c.Unlock()
	if !ok {
		if found, nest := PatternsCouldNest(p, p); nest {
			n = &found
		}
		c.Lock()
		if len(c.m) < selfNestingCacheSize {
			c.m[p.text] = n
		}
		c.Unlock()
	}
	if n == nil {
		return Nesting{}, false
	}
	// The example names the pattern it was found for; this one has the
	// same text.
	out := *n
	out.Inner.Pattern, out.Outer.Pattern = p, p
	return out, true
}
