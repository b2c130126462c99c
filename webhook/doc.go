// Package webhook is the admission webhook: a PVC defaulter (mutating), a
// PVC validator and a StorageClass validator, served by controller-runtime's
// webhook server in the same process as the provisioner, plus a readiness
// check that proves the API server can actually talk to us over TLS.
//
// # Default class: how we and Kubernetes' DefaultStorageClass plugin interact
//
// The API server runs its built-in admission plugins before any webhook.
// The DefaultStorageClass plugin gives every claim without a class (nil
// spec.storageClassName and no beta annotation) the class marked
// storageclass.kubernetes.io/is-default-class=true; with several marked it
// picks the newest.
//
// When no class is marked default, class-less claims reach us class-less
// and get the namespace's hostpath.dev/default-class, else --default-class.
// The response carries a warning naming the class and why.
//
// When a class is marked default, claims reach us already carrying it, so a
// plain "is it nil?" check never fires. A user who asked for that class and
// a user who asked for nothing look the same in spec, but not in
// metadata.managedFields: the API server records the requester's fields
// before mutating admission runs (apiserver endpoints/handlers/create.go),
// so a class that no field manager owns was put there by admission, not by
// the user. Only when that class is the cluster default do we act:
//
//   - If the namespace's hostpath.dev/default-class names another class, we
//     apply it: the namespace owner asked for it explicitly and it is the
//     more specific choice. This is also what makes the namespace annotation
//     work at all while our own class is the cluster default, as in the
//     original's install.
//   - Otherwise the cluster default stays (the cluster admin chose it); when
//     it is not one of our classes, a warning says that --default-class did
//     not apply and how to get a hostpath volume.
//
// A class that the requester set, or that we cannot attribute (no
// managedFields), is never changed and never warned about: the user may well
// have asked for exactly that class. An explicit "" (static binding) is
// never touched either.
//
// Claims created while this webhook was down stay class-less only if no
// class is marked default (otherwise kube-controller-manager assigns the
// default retroactively); pkg/controllers.DefaultClass then assigns ours.
//
// # What the validators decide
//
// Nothing: they read what a decision depends on (the class, the namespace,
// a clone's source claim, a bound claim's PV) and ask pkg/policy, one entry
// point per question: ValidateNewClaim at CREATE of a claim,
// ValidateClaimUpdate at UPDATE (only what the update changes is checked,
// so binding and finalizer removal are never blocked by an old problem),
// and ValidateStorageClass for a class. A new class is checked against the
// other classes of ours that exist, so one whose volumes could be inside
// another class's (or hold them) is refused naming both; an UPDATE of a
// class only warns, as its parameters are immutable.
//
// # Failure policy
//
// Fail open at admission, fail closed at provisioning: when a read needed
// for a decision fails, the request is allowed with a warning, and the
// provisioner (and, for growth, the resizer) checks everything again with
// the same pkg/policy code.
package webhook
