package provisioner

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mazdermind/hostpath-provisioner/pkg/location"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/volume"
)

// cloneSource is a clone's source claim, resolved to a directory on a node.
type cloneSource struct {
	claim *corev1.PersistentVolumeClaim
	pv    *corev1.PersistentVolume
	node  string
}

// resolveSource finds the claim a clone copies and where its data lives.
// A source that is missing or not bound yet is an error that the library
// retries with backoff: the clone waits for its source, as clones do.
func (p *Provisioner) resolveSource(ctx context.Context, claim *corev1.PersistentVolumeClaim) (*cloneSource, error) {
	name := policy.CloneSource(claim)
	src := &cloneSource{claim: &corev1.PersistentVolumeClaim{}}
	if err := p.cfg.Reader.Get(ctx, client.ObjectKey{Namespace: claim.Namespace, Name: name}, src.claim); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("the source claim %s/%s does not exist (yet); the clone waits for it", claim.Namespace, name)
		}
		return nil, fmt.Errorf("reading the source claim %s/%s: %w", claim.Namespace, name, err)
	}
	if src.claim.Spec.VolumeName == "" || src.claim.Status.Phase != corev1.ClaimBound {
		return nil, fmt.Errorf("the source claim %s/%s is not bound yet; the clone waits for it", claim.Namespace, name)
	}
	src.pv = &corev1.PersistentVolume{}
	if err := p.cfg.Reader.Get(ctx, client.ObjectKey{Name: src.claim.Spec.VolumeName}, src.pv); err != nil {
		return nil, fmt.Errorf("reading the source claim's volume %s: %w", src.claim.Spec.VolumeName, err)
	}
	if ref := src.pv.Spec.ClaimRef; ref == nil || ref.Namespace != src.claim.Namespace || ref.Name != src.claim.Name || ref.UID != src.claim.UID {
		return nil, fmt.Errorf("the source claim %s/%s names volume %s, which is not bound to it; refusing to clone another claim's data", claim.Namespace, name, src.pv.Name)
	}
	src.node = location.NodeOf(src.pv)
	if _, abs := location.SourcePath(src.pv); src.node == "" || abs == "" {
		return nil, fmt.Errorf("the source claim %s/%s is bound to %s, which is not a hostpath volume; only hostpath volumes can be cloned", claim.Namespace, name, src.pv.Name)
	}
	return src, nil
}

// sourceNode is the node of a clone's source, or "" when it is not known
// (yet); ShouldProvision then falls back to the rules for other claims, so
// that someone reports why the clone waits.
func (p *Provisioner) sourceNode(ctx context.Context, claim *corev1.PersistentVolumeClaim) string {
	if policy.CloneSource(claim) == "" {
		return ""
	}
	src, err := p.resolveSource(ctx, claim)
	if err != nil {
		return ""
	}
	return src.node
}

// cloneProgress turns the store's progress reports into events on the
// claim, so `kubectl describe pvc` shows that a large copy is moving.
func (p *Provisioner) cloneProgress(claim *corev1.PersistentVolumeClaim, source string) func(volume.CloneProgress) {
	ref := claim
	return func(pr volume.CloneProgress) {
		switch {
		case pr.Done:
			p.cfg.Recorder.Eventf(ref, corev1.EventTypeNormal, "Cloned", "Cloned %s by %s: %s", source, pr.Method, counts(pr.Copied))
		case pr.Scanning:
			p.cfg.Recorder.Eventf(ref, corev1.EventTypeNormal, "CloneProgress", "Counting %s: %s so far", source, counts(pr.Total))
		default:
			p.cfg.Recorder.Eventf(ref, corev1.EventTypeNormal, "CloneProgress", "Copying %s: %d of %d files, %s of %s",
				source, pr.Copied.Files, pr.Total.Files, humanBytes(pr.Copied.Bytes), humanBytes(pr.Total.Bytes))
		}
	}
}

func counts(c volume.CloneCounts) string {
	s := fmt.Sprintf("%d files (%s), %d directories, %d symlinks", c.Files, humanBytes(c.Bytes), c.Dirs, c.Symlinks)
	if c.Skipped > 0 {
		s += fmt.Sprintf(", %d sockets or device nodes skipped", c.Skipped)
	}
	return s
}

// humanBytes is n in binary units with one decimal, for event messages.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
