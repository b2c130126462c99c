package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

// lookup reads the objects admission decisions depend on.
type lookup struct {
	cache       client.Reader // the manager's cached client
	api         client.Reader // the manager's API reader (uncached)
	provisioner string
	basePaths   []string // the configured base path names a class may pick
}

// get reads obj from the cache and confirms a miss against the API server
// before calling it missing: the cache can lag an object created a moment
// ago (a common pattern in scripts and tests: apply the class or namespace,
// then the claim).
func (l *lookup) get(ctx context.Context, key client.ObjectKey, obj client.Object) error {
	err := l.cache.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		err = l.api.Get(ctx, key, obj)
	}
	return err
}

// find reads the object key names, or returns nil when it does not exist;
// what names its kind in errors.
func find[T any, P interface {
	*T
	client.Object
}](ctx context.Context, l *lookup, key client.ObjectKey, what string) (P, error) {
	obj := P(new(T))
	err := l.get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		name := key.Name
		if key.Namespace != "" {
			name = key.Namespace + "/" + key.Name
		}
		return nil, fmt.Errorf("reading %s %s: %w", what, name, err)
	}
	return obj, nil
}

// class returns the named StorageClass, or nil when it does not exist.
func (l *lookup) class(ctx context.Context, name string) (*storagev1.StorageClass, error) {
	return find[storagev1.StorageClass](ctx, l, client.ObjectKey{Name: name}, "StorageClass")
}

// claim returns the named claim, or nil when it does not exist.
func (l *lookup) claim(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error) {
	return find[corev1.PersistentVolumeClaim](ctx, l, client.ObjectKey{Namespace: namespace, Name: name}, "PersistentVolumeClaim")
}

// volume returns the named PersistentVolume, or nil when it does not exist.
func (l *lookup) volume(ctx context.Context, name string) (*corev1.PersistentVolume, error) {
	return find[corev1.PersistentVolume](ctx, l, client.ObjectKey{Name: name}, "PersistentVolume")
}

// clusterDefault returns the class Kubernetes gives class-less claims.
func (l *lookup) clusterDefault(ctx context.Context) (*storagev1.StorageClass, error) {
	var list storagev1.StorageClassList
	if err := l.cache.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing StorageClasses: %w", err)
	}
	return policy.ClusterDefaultClass(list.Items), nil
}

// namespaceAnnotations returns a namespace's annotations from the cache
// (a namespace and its first claim are often created within milliseconds,
// hence get's confirmation of a miss). A direct read for every admission
// would cost a round trip and count against the client's rate limit (at
// 50 claims/s it doubled the p99 latency of a create).
func (l *lookup) namespaceAnnotations(ctx context.Context, name string) (map[string]string, error) {
	var ns corev1.Namespace
	if err := l.get(ctx, client.ObjectKey{Name: name}, &ns); err != nil {
		return nil, fmt.Errorf("reading Namespace %s: %w", name, err)
	}
	return ns.Annotations, nil
}

func (l *lookup) ours(sc *storagev1.StorageClass) bool {
	return sc != nil && policy.IsOurProvisioner(sc.Provisioner, l.provisioner)
}
