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
}

// class returns the named StorageClass, or nil when it does not exist. The
// cache can lag a class created a moment ago (a common pattern in scripts
// and tests: apply the class, then the claim), so a cache miss is confirmed
// against the API server before we call the class missing.
func (l *lookup) class(ctx context.Context, name string) (*storagev1.StorageClass, error) {
	var sc storagev1.StorageClass
	err := l.cache.Get(ctx, client.ObjectKey{Name: name}, &sc)
	if apierrors.IsNotFound(err) {
		err = l.api.Get(ctx, client.ObjectKey{Name: name}, &sc)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading StorageClass %s: %w", name, err)
	}
	return &sc, nil
}

// claim returns the named claim, or nil when it does not exist; a cache
// miss is confirmed against the API server, as for classes.
func (l *lookup) claim(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error) {
	var c corev1.PersistentVolumeClaim
	err := l.cache.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &c)
	if apierrors.IsNotFound(err) {
		err = l.api.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &c)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading PersistentVolumeClaim %s/%s: %w", namespace, name, err)
	}
	return &c, nil
}

// clusterDefault returns the class Kubernetes gives class-less claims.
func (l *lookup) clusterDefault(ctx context.Context) (*storagev1.StorageClass, error) {
	var list storagev1.StorageClassList
	if err := l.cache.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing StorageClasses: %w", err)
	}
	return policy.ClusterDefaultClass(list.Items), nil
}

// namespaceAnnotations returns a namespace's annotations from the cache,
// confirming a miss against the API server: a namespace and its first claim
// are often created within milliseconds. A direct read for every admission
// would cost a round trip and count against the client's rate limit (at
// 50 claims/s it doubled the p99 latency of a create).
func (l *lookup) namespaceAnnotations(ctx context.Context, name string) (map[string]string, error) {
	var ns corev1.Namespace
	err := l.cache.Get(ctx, client.ObjectKey{Name: name}, &ns)
	if apierrors.IsNotFound(err) {
		err = l.api.Get(ctx, client.ObjectKey{Name: name}, &ns)
	}
	if err != nil {
		return nil, fmt.Errorf("reading Namespace %s: %w", name, err)
	}
	return ns.Annotations, nil
}

func (l *lookup) ours(sc *storagev1.StorageClass) bool {
	return sc != nil && policy.IsOurProvisioner(sc.Provisioner, l.provisioner)
}
