package webhook

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// configMapValidator answers every request with answer and records what it
// was asked.
type configMapValidator struct {
	answer   func(ctx context.Context) (admission.Warnings, error)
	calls    []string
	old, obj *corev1.ConfigMap
}

func (v *configMapValidator) ValidateCreate(ctx context.Context, obj *corev1.ConfigMap) (admission.Warnings, error) {
	v.calls, v.obj = append(v.calls, "create"), obj
	return v.answer(ctx)
}

func (v *configMapValidator) ValidateUpdate(ctx context.Context, old, obj *corev1.ConfigMap) (admission.Warnings, error) {
	v.calls, v.old, v.obj = append(v.calls, "update"), old, obj
	return v.answer(ctx)
}

func (v *configMapValidator) ValidateDelete(ctx context.Context, obj *corev1.ConfigMap) (admission.Warnings, error) {
	v.calls = append(v.calls, "delete")
	return v.answer(ctx)
}

func TestValidatingWebhook(t *testing.T) {
	cm := func(data string) *corev1.ConfigMap {
		return &corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "team"},
			Data:       map[string]string{"k": data},
		}
	}
	allowed := func(ctx context.Context) (admission.Warnings, error) { return allow(ctx, "fine", "careful") }
	invalid := func(context.Context) (admission.Warnings, error) {
		return admission.Warnings{"careful"}, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("ConfigMap").GroupKind(), "cm",
			field.ErrorList{field.Invalid(field.NewPath("data", "k"), "x", "must be y")})
	}
	refused := func(context.Context) (admission.Warnings, error) { return nil, errors.New("no such thing") }
	badRequest := func(context.Context) (admission.Warnings, error) {
		return nil, apierrors.NewBadRequest("the validator's own 400")
	}
	notJSON := []byte("{not json")

	tests := []struct {
		name        string
		op          admissionv1.Operation
		subresource string
		obj, old    []byte // nil: the encoded ConfigMap
		answer      func(context.Context) (admission.Warnings, error)
		wantCalls   string
		wantAllowed bool
		wantCode    int32
		wantMessage string // the whole message
		wantCauses  int
		wantWarning string
	}{
		{name: "a create is validated and allowed with its reason and warnings", op: admissionv1.Create, answer: allowed,
			wantCalls: "create", wantAllowed: true, wantCode: http.StatusOK, wantMessage: "fine", wantWarning: "careful"},
		{name: "an update is validated with the old and the new object", op: admissionv1.Update, answer: allowed,
			wantCalls: "update", wantAllowed: true, wantCode: http.StatusOK, wantMessage: "fine", wantWarning: "careful"},
		{name: "an allowed request without a reason has an empty message", op: admissionv1.Create,
			answer:    func(context.Context) (admission.Warnings, error) { return nil, nil },
			wantCalls: "create", wantAllowed: true, wantCode: http.StatusOK},
		{name: "an Invalid error is refused with 422, its causes and the warnings", op: admissionv1.Create, answer: invalid,
			wantCalls: "create", wantCode: http.StatusUnprocessableEntity, wantMessage: `ConfigMap "cm" is invalid: data.k: Invalid value: "x": must be y`, wantCauses: 1, wantWarning: "careful"},
		{name: "another error is refused with 403 and its text", op: admissionv1.Update, answer: refused,
			wantCalls: "update", wantCode: http.StatusForbidden, wantMessage: "no such thing"},
		{name: "a validator's own 400 is passed on as it is", op: admissionv1.Update, answer: badRequest,
			wantCalls: "update", wantCode: http.StatusBadRequest, wantMessage: "the validator's own 400"},
		{name: "a delete is allowed unread", op: admissionv1.Delete, obj: []byte{}, old: notJSON, answer: refused,
			wantAllowed: true, wantCode: http.StatusOK, wantMessage: "only CREATE and UPDATE of things are validated"},
		{name: "a connect is allowed unread", op: admissionv1.Connect, answer: refused,
			wantAllowed: true, wantCode: http.StatusOK, wantMessage: "only CREATE and UPDATE of things are validated"},
		{name: "an unknown operation is allowed unread", op: "PATCH", answer: refused,
			wantAllowed: true, wantCode: http.StatusOK, wantMessage: "only CREATE and UPDATE of things are validated"},
		{name: "an update of a subresource is allowed unread", op: admissionv1.Update, subresource: "status", obj: notJSON, answer: refused,
			wantAllowed: true, wantCode: http.StatusOK, wantMessage: "only CREATE and UPDATE of things are validated"},
		{name: "an object that cannot be decoded is refused with 400 naming its kind", op: admissionv1.Create, obj: notJSON, answer: allowed,
			wantCode: http.StatusBadRequest, wantMessage: "decoding ConfigMap: couldn't get version/kind; json parse error: invalid character 'n' looking for beginning of object key string"},
		{name: "an empty object is refused with 400 naming its kind", op: admissionv1.Create, obj: []byte{}, answer: allowed,
			wantCode: http.StatusBadRequest, wantMessage: "decoding ConfigMap: there is no content to decode"},
		{name: "an old object that cannot be decoded is refused with 400 saying it is the old one", op: admissionv1.Update, old: notJSON, answer: allowed,
			wantCode: http.StatusBadRequest, wantMessage: "decoding the old ConfigMap: couldn't get version/kind; json parse error: invalid character 'n' looking for beginning of object key string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &configMapValidator{answer: tt.answer}
			wh := validatingWebhook[corev1.ConfigMap](testScheme(t), v, "things")
			var old runtime.Object
			if tt.op == admissionv1.Update || tt.op == admissionv1.Delete {
				old = cm("old")
			}
			req := request(t, tt.op, "ConfigMap", cm("new"), old)
			req.SubResource = tt.subresource
			if tt.obj != nil {
				req.Object.Raw = tt.obj
			}
			if tt.old != nil {
				req.OldObject.Raw = tt.old
			}

			resp := wh.Handle(context.Background(), req)
			if got := strings.Join(v.calls, ","); got != tt.wantCalls {
				t.Errorf("validator called for %q, want %q", got, tt.wantCalls)
			}
			if resp.Allowed != tt.wantAllowed || resp.Result.Code != tt.wantCode || resp.Result.Message != tt.wantMessage {
				t.Errorf("allowed, code, message = %v, %d, %q; want %v, %d, %q", resp.Allowed, resp.Result.Code, resp.Result.Message, tt.wantAllowed, tt.wantCode, tt.wantMessage)
			}
			if tt.wantCauses > 0 && (resp.Result.Reason != metav1.StatusReasonInvalid || resp.Result.Details == nil || len(resp.Result.Details.Causes) != tt.wantCauses) {
				t.Errorf("want an Invalid status with %d causes, got %+v", tt.wantCauses, resp.Result)
			}
			if got := strings.Join(resp.Warnings, "\n"); got != tt.wantWarning {
				t.Errorf("warnings = %q, want %q", got, tt.wantWarning)
			}
			if tt.wantCalls == "update" && (v.old.Data["k"] != "old" || v.obj.Data["k"] != "new") {
				t.Errorf("validator got old %v and new %v", v.old.Data, v.obj.Data)
			}
		})
	}
}

func TestAllowOutsideValidatingWebhookOnlyReturnsTheWarnings(t *testing.T) {
	warnings, err := allow(context.Background(), "fine", "careful")
	if err != nil || len(warnings) != 1 || warnings[0] != "careful" {
		t.Errorf("allow = %v, %v; want [careful], nil", warnings, err)
	}
}
