package webhook

import (
	"context"
	"fmt"
	"net/http"
	"reflect"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// validatingWebhook serves v through controller-runtime's typed validator
// webhook (admission.WithValidator), which decodes the object, and on
// UPDATE the old one, answers an error carrying an API status (such as
// apierrors.NewInvalid: 422, one cause per field error) with that status
// and any other error with 403 and its text, and passes warnings through.
// what names the validated objects in the plural ("claims").
//
// Around it, validating keeps three answers the wrapper alone would give
// differently:
//
//   - a subresource, or an operation other than CREATE and UPDATE, is
//     allowed without being read, saying so (the wrapper would validate a
//     status update as an update of the object, decode a DELETE's object,
//     and refuse an operation it does not know with 400);
//   - an allowed request says why (see allow), where the wrapper's message
//     is empty;
//   - an object that cannot be decoded is refused with 400 naming it
//     ("decoding PersistentVolumeClaim: ...", "decoding the old ..."),
//     where the wrapper gives the decoder's error alone.
func validatingWebhook[T any, P interface {
	*T
	runtime.Object
}](scheme *runtime.Scheme, v admission.Validator[P], what string) *admission.Webhook {
	wh := admission.WithValidator(scheme, v)
	wh.Handler = &validating[T, P]{typed: wh.Handler, decoder: admission.NewDecoder(scheme), what: what}
	return wh
}

type validating[T any, P interface {
	*T
	runtime.Object
}] struct {
	typed   admission.Handler
	decoder admission.Decoder
	what    string
}

// Handle implements admission.Handler.
func (h *validating[T, P]) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.SubResource != "" || (req.Operation != admissionv1.Create && req.Operation != admissionv1.Update) {
		return admission.Allowed(fmt.Sprintf("only CREATE and UPDATE of %s are validated", h.what))
	}
	var reason string
	resp := h.typed.Handle(context.WithValue(ctx, reasonKey{}, &reason), req)
	switch {
	case resp.Allowed && reason != "":
		resp.Result.Message = reason
	case !resp.Allowed && resp.Result != nil && resp.Result.Code == http.StatusBadRequest:
		if err := h.decodeError(req); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
	}
	return resp
}

// decodeError says which object of req cannot be decoded, or returns nil
// when both can (then a 400 was the validator's own answer). It runs only
// after the wrapper refused a request with 400, so decoding twice costs
// nothing on the path every request takes.
func (h *validating[T, P]) decodeError(req admission.Request) error {
	kind := reflect.TypeFor[T]().Name()
	if err := h.decoder.Decode(req, P(new(T))); err != nil {
		return fmt.Errorf("decoding %s: %w", kind, err)
	}
	if req.Operation == admissionv1.Update {
		if err := h.decoder.DecodeRaw(req.OldObject, P(new(T))); err != nil {
			return fmt.Errorf("decoding the old %s: %w", kind, err)
		}
	}
	return nil
}

// reasonKey holds, in the context validating gives the validator, where
// allow writes its reason.
type reasonKey struct{}

// allow admits a request with warnings and says why in the response's
// message. The API server shows users only the warnings of an allowed
// request; the reason is for whoever reads the AdmissionReview itself.
func allow(ctx context.Context, reason string, warnings ...string) (admission.Warnings, error) {
	if r, ok := ctx.Value(reasonKey{}).(*string); ok {
		*r = reason
	}
	return warnings, nil
}
