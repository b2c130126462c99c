package policy

import (
	"fmt"
	"sort"

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

// ValidateStorageClass checks a StorageClass of ours: every parameter, and
// the class fields a directory cannot honour. The returned parameters are
// usable only when the error list is empty.
func ValidateStorageClass(class *storagev1.StorageClass) (*ClassParameters, field.ErrorList) {
	params, errs := ParseClassParameters(class.Parameters)
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
	return params, errs
}
