// Package framework starts and stops a complete single-node Kubernetes cluster
// on loopback for the end-to-end tests: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, containerd, a kubelet and
// cert-manager, all as local processes built from pinned module versions.
//
// Everything the cluster changes on the host (processes, mounts, the node IP
// on lo, the CNI bridge, iptables chains, sysctls, cgroups, a few well-known
// directories) is recorded in a state file before it is changed, so that Stop,
// `cluster down` from another process, or the next Start after a crash can
// put the machine back the way it was.
package framework
