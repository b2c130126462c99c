package policy

import (
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// StorageClass parameter keys.
const (
	ParamPathPattern = "pathPattern"
	ParamOnDelete    = "onDelete"
	ParamVolumeType  = "volumeType"
	ParamMode        = "mode"
	ParamUID         = "uid"
	ParamGID         = "gid"
	ParamMinSize     = "minSize"
	ParamMaxSize     = "maxSize"
	ParamQuota       = "quota"
	ParamBasePath    = "basePath"
)

var knownParams = []string{
	ParamPathPattern, ParamOnDelete, ParamVolumeType, ParamMode,
	ParamUID, ParamGID, ParamMinSize, ParamMaxSize, ParamQuota, ParamBasePath,
}

// OnDelete says what happens to a volume's directory when its claim goes.
type OnDelete string

const (
	OnDeleteDelete  OnDelete = "delete"
	OnDeleteRetain  OnDelete = "retain"
	OnDeleteArchive OnDelete = "archive"
)

var onDeleteValues = []string{string(OnDeleteDelete), string(OnDeleteRetain), string(OnDeleteArchive)}

// VolumeType is the kind of PersistentVolume source we create.
type VolumeType string

const (
	// VolumeTypeHostPath is the original's PV source.
	VolumeTypeHostPath VolumeType = "hostPath"
	// VolumeTypeLocal makes a `local` PV: the kubelet applies fsGroup to it
	// and backup tools treat it as a real volume.
	VolumeTypeLocal VolumeType = "local"
)

var volumeTypeValues = []string{string(VolumeTypeHostPath), string(VolumeTypeLocal)}

// QuotaMode chooses whether the requested size is enforced.
type QuotaMode string

const (
	QuotaAuto     QuotaMode = "auto"
	QuotaRequired QuotaMode = "required"
	QuotaOff      QuotaMode = "off"
)

var quotaValues = []string{string(QuotaAuto), string(QuotaRequired), string(QuotaOff)}

// DefaultMode is the original provisioner's directory mode: any pod user
// can write, which is what makes an unconfigured class just work.
const DefaultMode fs.FileMode = 0o777

// maxID is the largest uid/gid we accept (Linux uid_t minus the "-1" value).
const maxID = 1<<32 - 2

// ClassParameters is a validated, typed view of a StorageClass's parameters.
type ClassParameters struct {
	Pattern    *PathPattern
	OnDelete   OnDelete // empty: follow the class reclaimPolicy
	VolumeType VolumeType
	Mode       fs.FileMode
	UID, GID   *int64 // nil: leave the owner as the process makes it
	MinSize    *resource.Quantity
	MaxSize    *resource.Quantity
	Quota      QuotaMode
	// BasePath names the configured base path the class's volumes live
	// under (DefaultBasePathName unless the class says otherwise).
	BasePath string
}

// parseClassParameters validates every StorageClass parameter. Unknown keys
// are errors (with a "did you mean" hint) because a typo in a parameter name
// would otherwise be silently ignored and surprise the user much later.
func parseClassParameters(params map[string]string) (*ClassParameters, field.ErrorList) {
	fp := field.NewPath("parameters")
	var errs field.ErrorList
	p := &ClassParameters{
		VolumeType: VolumeTypeHostPath,
		Mode:       DefaultMode,
		Quota:      QuotaAuto,
		BasePath:   DefaultBasePathName,
	}

	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys) // stable error order
	for _, k := range keys {
		if !slices.Contains(knownParams, k) {
			errs = append(errs, field.Invalid(fp.Key(k), k, unknownKeyDetail("parameter", k, knownParams)))
		}
	}

	patternText := params[ParamPathPattern]
	if patternText == "" {
		patternText = DefaultPathPattern
	}
	pattern, perrs := parsePathPattern(patternText, fp.Key(ParamPathPattern))
	errs = append(errs, perrs...)
	p.Pattern = pattern

	if v, ok := params[ParamOnDelete]; ok {
		od, err := ParseOnDelete(v, fp.Key(ParamOnDelete))
		if err != nil {
			errs = append(errs, err)
		}
		p.OnDelete = od
	}
	if v, ok := params[ParamVolumeType]; ok {
		if !slices.Contains(volumeTypeValues, v) {
			errs = append(errs, field.NotSupported(fp.Key(ParamVolumeType), v, volumeTypeValues))
		} else {
			p.VolumeType = VolumeType(v)
		}
	}
	if v, ok := params[ParamMode]; ok {
		m, err := strconv.ParseUint(v, 8, 32)
		if err != nil || m > 0o7777 {
			errs = append(errs, field.Invalid(fp.Key(ParamMode), v, "must be an octal file mode from 0000 to 7777, for example 0770"))
		} else {
			p.Mode = fileModeFromUnix(uint32(m))
		}
	}
	p.UID = parseID(params, ParamUID, fp, &errs)
	p.GID = parseID(params, ParamGID, fp, &errs)
	p.MinSize = parseSize(params, ParamMinSize, fp, &errs)
	p.MaxSize = parseSize(params, ParamMaxSize, fp, &errs)
	if p.MinSize != nil && p.MaxSize != nil && p.MinSize.Cmp(*p.MaxSize) > 0 {
		errs = append(errs, field.Invalid(fp.Key(ParamMinSize), p.MinSize.String(),
			fmt.Sprintf("must not be larger than %s (%s)", ParamMaxSize, p.MaxSize.String())))
	}
	if v, ok := params[ParamQuota]; ok {
		if !slices.Contains(quotaValues, v) {
			errs = append(errs, field.NotSupported(fp.Key(ParamQuota), v, quotaValues))
		} else {
			p.Quota = QuotaMode(v)
		}
	}
	if v, ok := params[ParamBasePath]; ok {
		if err := ValidateBasePathName(v); err != nil {
			errs = append(errs, field.Invalid(fp.Key(ParamBasePath), v, err.Error()))
		} else {
			p.BasePath = v
		}
	}
	return p, errs
}

// ParseOnDelete validates an on-delete value from a parameter or annotation.
func ParseOnDelete(v string, fp *field.Path) (OnDelete, *field.Error) {
	if !slices.Contains(onDeleteValues, v) {
		return "", field.NotSupported(fp, v, onDeleteValues)
	}
	return OnDelete(v), nil
}

// ResolveOnDelete decides a new volume's fate on release. The claim's
// annotation wins (the user knows their data), then the class parameter,
// then an operator override (the original's PV_RECLAIM_POLICY), then the
// class reclaimPolicy. Inputs are assumed validated.
func ResolveOnDelete(claimAnnotation string, class *ClassParameters, override, reclaim corev1.PersistentVolumeReclaimPolicy) OnDelete {
	switch {
	case claimAnnotation != "":
		return OnDelete(claimAnnotation)
	case class != nil && class.OnDelete != "":
		return class.OnDelete
	case override != "":
		return fromReclaimPolicy(override)
	default:
		return fromReclaimPolicy(reclaim)
	}
}

func fromReclaimPolicy(p corev1.PersistentVolumeReclaimPolicy) OnDelete {
	if p == corev1.PersistentVolumeReclaimRetain {
		return OnDeleteRetain
	}
	return OnDeleteDelete
}

// ReclaimPolicy is the PV reclaim policy that carries an OnDelete: Retain
// stops Kubernetes (and us) from ever deleting the data.
func (o OnDelete) ReclaimPolicy() corev1.PersistentVolumeReclaimPolicy {
	if o == OnDeleteRetain {
		return corev1.PersistentVolumeReclaimRetain
	}
	return corev1.PersistentVolumeReclaimDelete
}

func parseID(params map[string]string, key string, fp *field.Path, errs *field.ErrorList) *int64 {
	v, ok := params[key]
	if !ok {
		return nil
	}
	id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || id < 0 || id > maxID {
		*errs = append(*errs, field.Invalid(fp.Key(key), v, fmt.Sprintf("must be a whole number from 0 to %d", int64(maxID))))
		return nil
	}
	return &id
}

func parseSize(params map[string]string, key string, fp *field.Path, errs *field.ErrorList) *resource.Quantity {
	v, ok := params[key]
	if !ok {
		return nil
	}
	q, err := resource.ParseQuantity(v)
	if err != nil || q.Sign() <= 0 {
		*errs = append(*errs, field.Invalid(fp.Key(key), v, "must be a positive quantity such as 1Gi or 500Mi"))
		return nil
	}
	return &q
}

// fileModeFromUnix turns the octal permission bits users write (setuid,
// setgid and sticky included) into Go's fs.FileMode, whose special bits
// live elsewhere.
func fileModeFromUnix(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}
