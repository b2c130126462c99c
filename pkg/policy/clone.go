package policy

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// CloneSource is the name of the claim, in the claim's own namespace, whose
// data a new claim starts with; "" when it starts empty, or when its data
// source is one we cannot clone (ValidateNewClaim says why). The API
// server mirrors dataSource into dataSourceRef, so dataSourceRef is read
// first.
func CloneSource(claim *corev1.PersistentVolumeClaim) string {
	if len(validateDataSource(claim, field.NewPath("spec"))) > 0 || Populator(claim) != "" {
		return ""
	}
	if ref := claim.Spec.DataSourceRef; ref != nil {
		return ref.Name
	}
	if ds := claim.Spec.DataSource; ds != nil {
		return ds.Name
	}
	return ""
}

// snapshotGroup is the API group of VolumeSnapshot: a data source that a
// provisioner, not a populator, would have to restore, and one a
// directory cannot be restored from.
const snapshotGroup = "snapshot.storage.k8s.io"

// dataSource is the claim's data source as the API server keeps it: it
// mirrors dataSource into dataSourceRef, so dataSourceRef is read first.
func dataSource(claim *corev1.PersistentVolumeClaim, spec *field.Path) (fp *field.Path, group, kind, name string, namespace *string, ok bool) {
	if ref := claim.Spec.DataSourceRef; ref != nil {
		if ref.APIGroup != nil {
			group = *ref.APIGroup
		}
		return spec.Child("dataSourceRef"), group, ref.Kind, ref.Name, ref.Namespace, true
	}
	if ds := claim.Spec.DataSource; ds != nil {
		if ds.APIGroup != nil {
			group = *ds.APIGroup
		}
		return spec.Child("dataSource"), group, ds.Kind, ds.Name, nil, true
	}
	return nil, "", "", "", nil, false
}

// Populator names the kind ("Kind.group") of a claim's data source when a
// volume populator fills it: any kind of an API group other than the core
// group and snapshot.storage.k8s.io. Such a claim is not ours to
// provision: by the Kubernetes populator contract its populator creates a
// claim of its own with the same class, which we provision, fills it, and
// binds the volume to this claim. "" for every other claim.
func Populator(claim *corev1.PersistentVolumeClaim) string {
	_, group, kind, _, _, ok := dataSource(claim, field.NewPath("spec"))
	if !ok || !populatorGroup(group) {
		return ""
	}
	return kind + "." + group
}

// populatorGroup reports whether kinds of an API group are a volume
// populator's to fill.
func populatorGroup(group string) bool { return group != "" && group != snapshotGroup }

// validateDataSource allows another claim in the same namespace (a clone)
// and any kind a volume populator fills (see Populator). Snapshots need
// something a directory does not have, and a claim in another namespace
// needs a ReferenceGrant, which we do not read.
func validateDataSource(claim *corev1.PersistentVolumeClaim, spec *field.Path) field.ErrorList {
	fp, group, kind, name, namespace, ok := dataSource(claim, spec)
	if !ok || populatorGroup(group) {
		return nil
	}
	if group != "" || kind != "PersistentVolumeClaim" {
		what := kind
		if group != "" {
			what = kind + "." + group
		}
		return field.ErrorList{field.NotSupported(fp.Child("kind"), what, []string{
			"PersistentVolumeClaim (a clone of another claim of the same class)",
			"a kind that a volume populator fills (any API group but the core group and " + snapshotGroup + ")",
		})}
	}
	if namespace != nil && *namespace != "" && *namespace != claim.Namespace {
		return field.ErrorList{field.Invalid(fp.Child("namespace"), *namespace,
			fmt.Sprintf("a clone's source must be a claim in the clone's own namespace %q", claim.Namespace))}
	}
	if name == "" {
		return field.ErrorList{field.Required(fp.Child("name"), "the name of the claim to clone")}
	}
	return nil
}

// validateCloneOf checks a clone against its source claim: the same class
// (one provisioner, one node, one set of parameters) and at least the
// source's size, as Kubernetes requires of every clone. source is the claim
// named by CloneSource.
func validateCloneOf(claim, source *corev1.PersistentVolumeClaim) field.ErrorList {
	var errs field.ErrorList
	class, sourceClass := "", ""
	if claim.Spec.StorageClassName != nil {
		class = *claim.Spec.StorageClassName
	}
	if source.Spec.StorageClassName != nil {
		sourceClass = *source.Spec.StorageClassName
	}
	if class != sourceClass {
		errs = append(errs, field.Invalid(field.NewPath("spec", "storageClassName"), class,
			fmt.Sprintf("must be %q, the class of the source claim %s: a clone is made from its source's directory, by the same class on the same node", sourceClass, source.Name)))
	}
	if need := sourceSize(source); need != nil {
		if req := ClaimRequest(claim); req != nil && req.Cmp(*need) < 0 {
			errs = append(errs, field.Invalid(requestPath(), req.String(),
				fmt.Sprintf("must be at least %s, the size of the source claim %s", need.String(), source.Name)))
		}
	}
	return errs
}

// sourceSize is what a clone of source must at least request: its bound
// capacity, else its request.
func sourceSize(source *corev1.PersistentVolumeClaim) *resource.Quantity {
	if q, ok := source.Status.Capacity[corev1.ResourceStorage]; ok {
		return &q
	}
	return ClaimRequest(source)
}
