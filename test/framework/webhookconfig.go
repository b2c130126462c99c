package framework

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/mazdermind/hostpath-provisioner/webhook"
)

// WebhookTarget says where a test's webhook configurations send requests
// and what they cover.
type WebhookTarget struct {
	// Name of both configurations (the process's --webhook-configurations).
	Name string
	// Port on 127.0.0.1 where the process serves the webhook.
	Port string
	// Namespaces whose claims are sent to the webhook.
	Namespaces []string
	// ClassLabels select the StorageClasses sent to the webhook.
	ClassLabels map[string]string
	// Annotations, e.g. cert-manager.io/inject-ca-from, and CABundle: one
	// of them makes the API server trust the serving certificate.
	Annotations map[string]string
	CABundle    []byte
}

// WebhookConfigurations builds the Mutating- and ValidatingWebhookConfiguration
// the install manifest has, but reaching a process on loopback by URL and
// scoped to the test's namespaces and classes.
func WebhookConfigurations(w WebhookTarget) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	client := func(path string) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:" + w.Port + path), CABundle: w.CABundle}
	}
	nsSel := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: w.Namespaces,
	}}}
	pvcRule := func(ops ...admissionregistrationv1.OperationType) []admissionregistrationv1.RuleWithOperations {
		return []admissionregistrationv1.RuleWithOperations{{Operations: ops,
			Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"persistentvolumeclaims"}}}}
	}
	ignore, none := ptr.To(admissionregistrationv1.Ignore), ptr.To(admissionregistrationv1.SideEffectClassNone)
	timeout, reviews := ptr.To[int32](5), []string{"v1"}
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Annotations: w.Annotations},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "default-class.hostpath.dev", ClientConfig: client(webhook.MutatePVCPath), FailurePolicy: ignore, SideEffects: none,
			AdmissionReviewVersions: reviews, TimeoutSeconds: timeout, NamespaceSelector: nsSel,
			Rules: pvcRule(admissionregistrationv1.Create),
		}},
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Annotations: w.Annotations},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "claims.hostpath.dev", ClientConfig: client(webhook.ValidatePVCPath), FailurePolicy: ignore, SideEffects: none,
			AdmissionReviewVersions: reviews, TimeoutSeconds: timeout, NamespaceSelector: nsSel,
			Rules: pvcRule(admissionregistrationv1.Create, admissionregistrationv1.Update),
		}, {
			Name: "classes.hostpath.dev", ClientConfig: client(webhook.ValidateStorageClassPath), FailurePolicy: ignore, SideEffects: none,
			AdmissionReviewVersions: reviews, TimeoutSeconds: timeout, ObjectSelector: &metav1.LabelSelector{MatchLabels: w.ClassLabels},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"storage.k8s.io"}, APIVersions: []string{"v1"}, Resources: []string{"storageclasses"}},
			}},
		}},
	}
	return mutating, validating
}
