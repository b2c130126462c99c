// Package policy holds every rule the product enforces on user input, as
// pure functions: StorageClass parameters, the pathPattern and the paths it
// renders, claim sizes and the hostpath.dev/ annotations.
//
// The admission webhook and the provisioner both call this package, so a
// claim that admission accepts is exactly a claim the provisioner will
// provision, and the provisioner's re-check (fail closed) is the same code.
// Validators return field.ErrorList so that every message names the field
// path, the offending value and what is allowed.
package policy
