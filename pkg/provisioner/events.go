package provisioner

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// WithoutStartEvents wraps the clientset handed to the provisioning
// library so that its Normal "Provisioning" event ("External provisioner is
// provisioning volume for claim ...") is not written. Provisioning here
// takes milliseconds, so that event only announces the ProvisioningSucceeded
// that follows it, and at scale it is a third of our API writes: 1,000
// extra writes for 1,000 claims, on an API server that the binder is
// waiting on. Every other event, and every Warning, is written as before.
func WithoutStartEvents(cs kubernetes.Interface) kubernetes.Interface {
	return quietClientset{cs}
}

// dropEvent says whether an event is the library's start announcement.
func dropEvent(e *corev1.Event) bool {
	return e.Type == corev1.EventTypeNormal && e.Reason == "Provisioning" && e.InvolvedObject.Kind == "PersistentVolumeClaim"
}

type quietClientset struct{ kubernetes.Interface }

func (c quietClientset) CoreV1() corev1client.CoreV1Interface {
	return quietCoreV1{c.Interface.CoreV1()}
}

type quietCoreV1 struct{ corev1client.CoreV1Interface }

func (c quietCoreV1) Events(namespace string) corev1client.EventInterface {
	return quietEvents{c.CoreV1Interface.Events(namespace)}
}

type quietEvents struct{ corev1client.EventInterface }

func (e quietEvents) CreateWithEventNamespace(ev *corev1.Event) (*corev1.Event, error) {
	if dropEvent(ev) {
		return ev, nil
	}
	return e.EventInterface.CreateWithEventNamespace(ev) //nolint:staticcheck // the event sink calls this one
}

func (e quietEvents) CreateWithEventNamespaceWithContext(ctx context.Context, ev *corev1.Event) (*corev1.Event, error) {
	if dropEvent(ev) {
		return ev, nil
	}
	return e.EventInterface.CreateWithEventNamespaceWithContext(ctx, ev)
}
