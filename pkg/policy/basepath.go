package policy

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateBasePathName checks the name of a base path, as the process's
// configuration defines it and a class's basePath parameter names it: a
// DNS label, so it can be a metric label value, part of a readiness check
// name and an event's text without quoting.
func ValidateBasePathName(name string) error {
	if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
		return fmt.Errorf("must be a base path name: %s", strings.Join(msgs, "; "))
	}
	return nil
}

// validateKnownBasePath refuses a class whose basePath names none of the
// base paths the process is configured with. known nil means the caller
// does not know the configuration (a check run outside the cluster): then
// only the syntax is checked.
func validateKnownBasePath(p *ClassParameters, known []string) *field.Error {
	if known == nil || p == nil || slices.Contains(known, p.BasePath) {
		return nil
	}
	return field.NotSupported(field.NewPath("parameters").Key(ParamBasePath), p.BasePath, known)
}
