// Package provisioner is where a claim becomes a directory: it implements
// the sig-storage-lib-external-provisioner Provisioner for one node. The
// library decides when to provision and delete; this package decides
// whether this node should, re-checks every policy (fail closed, whatever
// admission let through), does the directory work through pkg/volume and
// describes the PersistentVolume.
package provisioner

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v10/controller"

	"github.com/mazdermind/hostpath-provisioner/pkg/basepath"
	"github.com/mazdermind/hostpath-provisioner/pkg/failpoint"
	"github.com/mazdermind/hostpath-provisioner/pkg/location"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/volume"
)

// Config is what one node's provisioner needs to know.
type Config struct {
	// NodeName is the node this process runs on; it owns that node's volumes.
	NodeName string
	// Stores are the node's base paths, one store each; a class picks one
	// by name (its basePath parameter).
	Stores *basepath.Set
	// ReclaimOverride, when set, replaces the class reclaimPolicy as the
	// default fate of a volume (the original's PV_RECLAIM_POLICY).
	ReclaimOverride corev1.PersistentVolumeReclaimPolicy
	// IsLeader reports whether this instance holds the lease that entitles
	// it to provision Immediate claims (which have no selected node).
	IsLeader func() bool
	// Reader reads Namespaces and Nodes, normally from the manager's cache.
	Reader client.Reader
	// Recorder records events on PVs for what the library does not report.
	Recorder record.EventRecorder
	// Now is the clock, for archive names.
	Now func() time.Time
}

// Provisioner provisions and deletes the volumes of one node.
type Provisioner struct {
	cfg Config
}

var (
	_ controller.Provisioner   = (*Provisioner)(nil)
	_ controller.Qualifier     = (*Provisioner)(nil)
	_ controller.DeletionGuard = (*Provisioner)(nil)
)

// New returns a provisioner for cfg.NodeName.
func New(cfg Config) *Provisioner {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Provisioner{cfg: cfg}
}

// ShouldProvision lets exactly one instance act on a claim: a
// WaitForFirstConsumer claim belongs to the instance on its selected node,
// an Immediate claim to the lease holder. Being called for claims of other
// nodes is normal in a DaemonSet, so this is quiet.
// A clone belongs to the instance on its source's node, where the data is.
// A claim that a volume populator fills belongs to nobody here: its
// populator makes a claim of its own, which we provision, and hands the
// volume over (the Kubernetes populator contract).
func (p *Provisioner) ShouldProvision(ctx context.Context, claim *corev1.PersistentVolumeClaim) bool {
	if kind := policy.Populator(claim); kind != "" {
		klog.FromContext(ctx).V(4).Info("Leaving claim to its volume populator", "claim", klog.KObj(claim), "dataSource", kind)
		return false
	}
	if node := claim.Annotations[policy.AnnSelectedNode]; node != "" {
		return node == p.cfg.NodeName
	}
	if node := p.sourceNode(ctx, claim); node != "" {
		return node == p.cfg.NodeName
	}
	return p.cfg.IsLeader()
}

// ShouldDelete keeps every instance but the volume's own node away from it.
func (p *Provisioner) ShouldDelete(_ context.Context, pv *corev1.PersistentVolume) bool {
	return location.NodeOf(pv) == p.cfg.NodeName
}

// Provision creates the claim's directory and describes its PV.
func (p *Provisioner) Provision(ctx context.Context, opts controller.ProvisionOptions) (*corev1.PersistentVolume, controller.ProvisioningState, error) {
	claim := opts.PVC
	logger := klog.FromContext(ctx).WithValues("node", p.cfg.NodeName, "pv", opts.PVName)

	if opts.SelectedNode != nil && opts.SelectedNode.Name != p.cfg.NodeName {
		return nil, controller.ProvisioningFinished, &controller.IgnoredError{Reason: "the claim's selected node is " + opts.SelectedNode.Name}
	}
	var source *cloneSource
	if policy.CloneSource(claim) != "" {
		src, err := p.resolveSource(ctx, claim)
		if err != nil {
			if opts.SelectedNode == nil && !p.cfg.IsLeader() {
				return nil, controller.ProvisioningFinished, &controller.IgnoredError{Reason: "the clone's source is not resolved and this is not the lease holder"}
			}
			return nil, controller.ProvisioningNoChange, err
		}
		switch {
		case src.node == p.cfg.NodeName:
		case opts.SelectedNode != nil:
			// The scheduler picked this node for the pod, but the data is
			// elsewhere: ask it to pick again.
			return nil, controller.ProvisioningReschedule, fmt.Errorf(
				"the clone must be made on node %s, where its source claim %s is, not on %s", src.node, src.claim.Name, p.cfg.NodeName)
		default:
			return nil, controller.ProvisioningFinished, &controller.IgnoredError{Reason: "the clone's source is on node " + src.node}
		}
		source = src
	} else if opts.SelectedNode == nil && !p.cfg.IsLeader() {
		return nil, controller.ProvisioningFinished, &controller.IgnoredError{Reason: "not the lease holder for Immediate claims"}
	}

	params, rel, err := p.check(ctx, opts, source)
	if err != nil {
		return nil, controller.ProvisioningFinished, err
	}

	// Only this class's base path is checked: another one that is broken
	// does not stop this claim. One that is unusable here (missing, not
	// mounted, read-only, none on this node) sends a claim with a selected
	// node back to the scheduler, as a full disk does.
	store, err := p.cfg.Stores.ForProvisioning(params.BasePath)
	if err != nil {
		return nil, rescheduleIf(opts.SelectedNode != nil && errors.Is(err, basepath.ErrUnavailable)), fmt.Errorf(
			"StorageClass %s cannot provision on node %s: %w", opts.StorageClass.Name, p.cfg.NodeName, err)
	}
	request := policy.ClaimRequest(claim)
	if state, err := p.checkSpace(store, *request, opts.SelectedNode != nil); err != nil {
		return nil, state, err
	}

	limit := volume.Limit{Bytes: request.Value(), Mode: params.Quota}
	var enforced bool
	if source != nil {
		enforced, err = p.clone(ctx, store, params.BasePath, source, rel, limit, opts)
	} else {
		enforced, err = store.CreateVolume(rel, volume.CreateOptions{PV: opts.PVName, Mode: params.Mode, Owner: volume.Owner{UID: params.UID, GID: params.GID}, Limit: limit})
	}
	if err != nil {
		if errors.Is(err, volume.ErrCollision) {
			return nil, controller.ProvisioningFinished, fmt.Errorf(
				"refusing to provision on node %s: %s: %w; it may hold another claim's data. Move it away or choose a pathPattern with {{ .PVName }}",
				p.cfg.NodeName, store.Abs(rel), err)
		}
		return nil, controller.ProvisioningFinished, fmt.Errorf("node %s: %w", p.cfg.NodeName, err)
	}

	onDelete := policy.ResolveOnDelete(claim.Annotations[policy.AnnOnDelete], params, p.cfg.ReclaimOverride, reclaimPolicy(opts.StorageClass.ReclaimPolicy))
	hostname, err := p.hostname(ctx, opts.SelectedNode)
	if err != nil {
		return nil, controller.ProvisioningNoChange, err
	}
	pv := p.describe(opts, store, rel, *request, params.VolumeType, onDelete, hostname)
	pv.Annotations[policy.AnnQuota] = "none"
	if enforced {
		pv.Annotations[policy.AnnQuota] = string(store.QuotaKind())
	}
	if source != nil {
		pv.Annotations[policy.AnnClonedFrom] = source.claim.Namespace + "/" + source.claim.Name
	}
	logger.V(2).Info("Provisioned volume directory", "claim", klog.KObj(claim), "path", store.Abs(rel), "basePath", params.BasePath, "onDelete", onDelete)
	return pv, controller.ProvisioningFinished, nil
}

// clone makes rel a copy of the source's directory. The clone's root
// takes the source's mode and owner, not the class's: the pods that used
// the data expect its permissions.
// A clone is made on its source's base path: a copy across filesystems
// would lose the snapshot and the quota, so a class on another base path is
// refused, naming both.
func (p *Provisioner) clone(ctx context.Context, store *volume.Store, basePath string, src *cloneSource, rel string, limit volume.Limit, opts controller.ProvisionOptions) (bool, error) {
	name := src.claim.Namespace + "/" + src.claim.Name
	srcStore, srcLoc, srcBase, err := p.cfg.Stores.ForVolume(src.pv)
	if err != nil {
		return false, fmt.Errorf("source claim %s: %w", src.claim.Name, err)
	}
	if srcBase != basePath {
		return false, fmt.Errorf("cannot clone %s: it is on base path %q (%s), but StorageClass %s puts volumes on base path %q (%s); a clone stays on its source's base path",
			name, srcBase, srcStore.Base(), opts.StorageClass.Name, basePath, store.Base())
	}
	srcRel := srcLoc.Rel
	how, enforced, err := store.Clone(srcRel, rel, limit, volume.CloneOptions{ID: opts.PVName, Progress: p.cloneProgress(opts.PVC, name)})
	if err != nil {
		return false, fmt.Errorf("cloning %s: %w", name, err)
	}
	klog.FromContext(ctx).V(2).Info("Cloned volume directory", "source", name, "method", how, "from", store.Abs(srcRel), "to", store.Abs(rel))
	return enforced, nil
}

// check re-applies every admission rule, the clone's against its source
// included, and renders the claim's directory: the webhook fails open, so
// a claim made while it was down must not slip past the provisioner.
func (p *Provisioner) check(ctx context.Context, opts controller.ProvisionOptions, source *cloneSource) (*policy.ClassParameters, string, error) {
	params, errs := policy.ValidateStorageClass(opts.StorageClass, p.cfg.Stores.Names())
	if len(errs) > 0 {
		return nil, "", fmt.Errorf("StorageClass %s is invalid: %w", opts.StorageClass.Name, errs.ToAggregate())
	}
	claim := opts.PVC
	var ns corev1.Namespace
	if err := p.cfg.Reader.Get(ctx, client.ObjectKey{Name: claim.Namespace}, &ns); err != nil {
		return nil, "", fmt.Errorf("reading namespace %s: %w", claim.Namespace, err)
	}
	c := policy.ClaimContext{Class: params, ClassName: opts.StorageClass.Name, NamespaceAnnotations: ns.Annotations, PVName: opts.PVName}
	if source != nil {
		c.Source = source.claim
	}
	rel, cerrs, _ := policy.ValidateNewClaim(claim, c)
	if len(cerrs) > 0 {
		return nil, "", fmt.Errorf("claim is invalid: %w", cerrs.ToAggregate())
	}
	return params, rel, nil
}

// checkSpace refuses a claim the base path cannot hold. For a claim with a
// selected node the scheduler is asked to pick another node; otherwise the
// library retries with exponential backoff, not in a hot loop.
func (p *Provisioner) checkSpace(store *volume.Store, request resource.Quantity, rescheduleable bool) (controller.ProvisioningState, error) {
	space, err := store.Space()
	if err != nil {
		return controller.ProvisioningNoChange, fmt.Errorf("node %s: %w", p.cfg.NodeName, err)
	}
	free := space.FreeQuantity()
	if request.Cmp(*free) <= 0 {
		return "", nil
	}
	return rescheduleIf(rescheduleable), fmt.Errorf("not enough space on node %s: the claim requests %s, %s has %s",
		p.cfg.NodeName, request.String(), store.Base(), space)
}

// rescheduleIf is the state for a claim this node cannot take now: one
// with a selected node goes back to the scheduler (the library removes the
// selected node), an Immediate one is retried with backoff.
func rescheduleIf(rescheduleable bool) controller.ProvisioningState {
	if rescheduleable {
		return controller.ProvisioningReschedule
	}
	return controller.ProvisioningFinished
}

// hostname is the node's kubernetes.io/hostname label, which node affinity
// must match; it usually equals the node name but need not.
func (p *Provisioner) hostname(ctx context.Context, selected *corev1.Node) (string, error) {
	node := selected
	if node == nil {
		node = &corev1.Node{}
		if err := p.cfg.Reader.Get(ctx, client.ObjectKey{Name: p.cfg.NodeName}, node); err != nil {
			return "", fmt.Errorf("reading own node %s: %w", p.cfg.NodeName, err)
		}
	}
	if h := node.Labels[corev1.LabelHostname]; h != "" {
		return h, nil
	}
	return node.Name, nil
}

func (p *Provisioner) describe(opts controller.ProvisionOptions, store *volume.Store, rel string, size resource.Quantity, vt policy.VolumeType, onDelete policy.OnDelete, hostname string) *corev1.PersistentVolume {
	abs := store.Abs(rel)
	var source corev1.PersistentVolumeSource
	if vt == policy.VolumeTypeLocal {
		source.Local = &corev1.LocalVolumeSource{Path: abs}
	} else {
		// Directory, not DirectoryOrCreate: if the directory vanished, the pod
		// must fail to start rather than get a fresh empty volume.
		t := corev1.HostPathDirectory
		source.HostPath = &corev1.HostPathVolumeSource{Path: abs, Type: &t}
	}
	fs := corev1.PersistentVolumeFilesystem
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name: opts.PVName,
			Annotations: map[string]string{
				policy.AnnNode:     p.cfg.NodeName,
				policy.AnnPath:     rel,
				policy.AnnBasePath: store.Base(),
				policy.AnnOnDelete: string(onDelete),
			},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   opts.PVC.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: onDelete.ReclaimPolicy(),
			StorageClassName:              opts.StorageClass.Name,
			MountOptions:                  opts.StorageClass.MountOptions,
			VolumeMode:                    &fs,
			PersistentVolumeSource:        source,
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{hostname},
				}}}},
			}},
		},
	}
}

func reclaimPolicy(p *corev1.PersistentVolumeReclaimPolicy) corev1.PersistentVolumeReclaimPolicy {
	if p == nil {
		return corev1.PersistentVolumeReclaimDelete
	}
	return *p
}

// Delete disposes of a released volume's directory as its on-delete policy
// says. The library deletes the PV object afterwards.
func (p *Provisioner) Delete(ctx context.Context, pv *corev1.PersistentVolume) error {
	if node := location.NodeOf(pv); node != p.cfg.NodeName {
		return &controller.IgnoredError{Reason: fmt.Sprintf("volume lives on node %q", node)}
	}
	// The PV's own source path decides what is deleted; a PV whose
	// annotations say otherwise is refused, never followed.
	// An unmounted or missing base path is an error, retried: the volume
	// is deleted once its disk is back, never looked for underneath.
	store, loc, _, err := p.cfg.Stores.ForVolume(pv)
	if err != nil {
		return err
	}
	rel := loc.Rel
	logger := klog.FromContext(ctx).WithValues("pv", pv.Name, "path", store.Abs(rel))

	onDelete := policy.OnDeleteDelete
	if v, ok := pv.Annotations[policy.AnnOnDelete]; ok {
		od, ferr := policy.ParseOnDelete(v, field.NewPath("metadata", "annotations").Key(policy.AnnOnDelete))
		if ferr != nil {
			// Unknown intent: keeping the data is the only safe reading.
			return fmt.Errorf("not deleting %s: %w", store.Abs(rel), ferr)
		}
		onDelete = od
	}
	switch onDelete {
	case policy.OnDeleteRetain:
		return fmt.Errorf("not deleting %s: the volume has %s=retain; set it to delete or archive to let the directory go, or set the reclaim policy to Retain",
			store.Abs(rel), policy.AnnOnDelete)
	case policy.OnDeleteArchive:
		name, err := store.Archive(rel, p.cfg.Now())
		if err != nil {
			return fmt.Errorf("node %s: %w", p.cfg.NodeName, err)
		}
		if name != "" {
			logger.Info("Archived volume directory", "archive", store.Abs(name))
			p.cfg.Recorder.Eventf(pv, corev1.EventTypeNormal, "VolumeArchived", "Archived %s as %s on node %s", store.Abs(rel), store.Abs(name), p.cfg.NodeName)
		}
		return nil
	default:
		if err := store.Remove(rel); err != nil {
			return fmt.Errorf("node %s: %w", p.cfg.NodeName, err)
		}
		logger.V(2).Info("Deleted volume directory")
		failpoint.Crash(failpoint.BeforeDeletePV)
		return nil
	}
}
