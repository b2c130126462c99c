package webhook

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := cmv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func testLookup(t *testing.T, objs ...client.Object) (*lookup, admission.Decoder) {
	t.Helper()
	s := testScheme(t)
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
	return &lookup{cache: c, api: c, provisioner: policy.ProvisionerName}, admission.NewDecoder(s)
}

func namespace(name string, ann map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann}}
}

type classOpt func(*storagev1.StorageClass)

func storageClass(name, provisioner string, opts ...classOpt) *storagev1.StorageClass {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(1000, 0))}, Provisioner: provisioner}
	for _, o := range opts {
		o(sc)
	}
	return sc
}

func markedDefault(sc *storagev1.StorageClass) {
	sc.Annotations = map[string]string{policy.AnnIsDefaultClass: "true"}
}

func withParams(kv ...string) classOpt {
	return func(sc *storagev1.StorageClass) {
		sc.Parameters = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			sc.Parameters[kv[i]] = kv[i+1]
		}
	}
}

type claimOpt func(*corev1.PersistentVolumeClaim)

func claim(opts ...claimOpt) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "team", UID: "1234"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func withClass(name string) claimOpt {
	return func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = &name }
}

func withSize(q string) claimOpt {
	return func(c *corev1.PersistentVolumeClaim) {
		c.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(q)}
	}
}

func withAnnotation(k, v string) claimOpt {
	return func(c *corev1.PersistentVolumeClaim) {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[k] = v
	}
}

func boundTo(pv string) claimOpt {
	return func(c *corev1.PersistentVolumeClaim) {
		c.Spec.VolumeName = pv
		c.Status.Phase = corev1.ClaimBound
	}
}

// persistentVolume is a PV of ours bound to the claim ns/name with uid, whose size is
// enforced as quota says.
func persistentVolume(name, quota, ns, claimName string, uid types.UID) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{policy.AnnQuota: quota}},
		Spec:       corev1.PersistentVolumeSpec{ClaimRef: &corev1.ObjectReference{Namespace: ns, Name: claimName, UID: uid}},
	}
}

// managedBy records the fields the requester sent, as the API server does
// before mutating admission.
func managedBy(fields string) claimOpt {
	return func(c *corev1.PersistentVolumeClaim) {
		c.ManagedFields = []metav1.ManagedFieldsEntry{{
			Manager: "kubectl-create", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
			FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields),
		}}
	}
}

const userSetNoClass = `{"f:spec":{"f:accessModes":{},"f:resources":{"f:requests":{".":{},"f:storage":{}}}}}`
const userSetClass = `{"f:spec":{"f:accessModes":{},"f:storageClassName":{},"f:resources":{"f:requests":{".":{},"f:storage":{}}}}}`

func request(t *testing.T, op admissionv1.Operation, kind string, obj, old runtime.Object) admission.Request {
	t.Helper()
	raw := func(o runtime.Object) runtime.RawExtension {
		if o == nil {
			return runtime.RawExtension{}
		}
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		return runtime.RawExtension{Raw: b}
	}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: types.UID("req-1"), Operation: op, Object: raw(obj), OldObject: raw(old),
		Kind: metav1.GroupVersionKind{Version: "v1", Kind: kind},
	}}
	if m, ok := obj.(metav1.Object); ok {
		req.Namespace, req.Name = m.GetNamespace(), m.GetName()
	}
	return req
}

func containsAll(t *testing.T, what, got string, want []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s %q does not contain %q", what, got, w)
		}
	}
}

func message(r admission.Response) string {
	if r.Result == nil {
		return ""
	}
	return r.Result.Message
}
