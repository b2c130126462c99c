// Package policy holds every rule the product enforces on user input, as
// pure functions: StorageClass parameters, the pathPattern and the paths it
// renders, claim sizes, clone sources and the hostpath.dev/ annotations.
//
// # Entry points
//
// Callers ask one question each and never compose rules themselves, so a
// rule added here applies everywhere at once:
//
//   - ValidateStorageClass: a class of ours (its parameters and fields, and
//     whether its pattern could put one volume inside another, of its own
//     or, when the other classes are given, of theirs). The webhook calls it
//     for classes and before it judges a claim; the provisioner and the
//     resizer call it for the claim's class.
//   - ValidateNewClaim: a claim that is to be provisioned (spec, size,
//     annotations, the directory it renders to, its clone source, warnings).
//     The webhook calls it at CREATE, the provisioner before it makes a
//     directory.
//   - ValidateClaimUpdate: what an update of a claim changes (annotations,
//     and the request: growth against minSize/maxSize, the namespace
//     hostpath.dev/max-size and quota: required). The webhook calls it at
//     UPDATE, the resizer before it grows a volume.
//
// What a claim rule depends on besides the claim travels in ClaimContext.
// Admission fails open and the provisioner and resizer fail closed, but the
// decision is the same code, so a claim that admission accepts is exactly a
// claim the provisioner will provision. Validators return field.ErrorList
// so that every message names the field path, the offending value and what
// is allowed.
//
// # Paths
//
// A rendered path stays below the base path (SafeRelPath), no component
// starts with '.' (those names belong to the provisioner's own files), and
// every value that comes from a claim (a label or an annotation) stays
// inside one path component: a value that would hold a '/', be "." or "..",
// or be empty or missing where it is a whole component is refused naming
// the label or annotation. Which value is to blame is found by rendering
// again with the suspect values replaced by harmless tokens, not by reading
// the template. Whether two patterns could nest is decided the same way, by
// rendering them for sample claims (PatternsCouldNest); the check on disk
// when a volume is made is pkg/volume's.
package policy
