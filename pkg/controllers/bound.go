package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mazdermind/hostpath-provisioner/pkg/location"
)

// ReasonNotBound is the Warning event on a claim that names a volume which
// belongs to another claim.
const ReasonNotBound = "VolumeNotBoundToClaim"

// boundVolume returns the PV that claim is bound to, if it is one of ours
// on node, or nil. It is the one gate every reconciler passes before it
// writes a PV on a claim's behalf: spec.volumeName is the claim's word
// alone (any tenant can name any PV there), so the PV must name the claim
// back in its claimRef (namespace, name and UID). A claim that merely names
// another claim's volume gets a Warning event and nothing else.
func boundVolume(ctx context.Context, c client.Reader, rec record.EventRecorder, claim *corev1.PersistentVolumeClaim, node string) (*corev1.PersistentVolume, error) {
	if claim.Spec.VolumeName == "" {
		return nil, nil
	}
	var pv corev1.PersistentVolume
	if err := c.Get(ctx, client.ObjectKey{Name: claim.Spec.VolumeName}, &pv); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading PV %s: %w", claim.Spec.VolumeName, err)
	}
	if !location.OnNode(&pv, node) {
		return nil, nil // not ours, or another node's instance answers for it
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.Namespace != claim.Namespace || ref.Name != claim.Name || ref.UID != claim.UID {
		rec.Eventf(claim, corev1.EventTypeWarning, ReasonNotBound,
			"spec.volumeName names PV %s, which is not bound to this claim (its claimRef is %s); nothing is done for this claim to that volume",
			pv.Name, describeRef(ref))
		return nil, nil
	}
	return &pv, nil
}

func describeRef(ref *corev1.ObjectReference) string {
	if ref == nil {
		return "empty"
	}
	return fmt.Sprintf("%s/%s with UID %s", ref.Namespace, ref.Name, ref.UID)
}
