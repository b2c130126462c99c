package framework

import (
	"os"
	"path/filepath"
	"strings"
)

// Loopback ports of the control plane; Start refuses to run when one is taken
// (another cluster, or a leftover of a crashed run that was not ours).
const (
	apiServerPort         = "6443"
	etcdClientPort        = "2379"
	etcdPeerPort          = "2380"
	etcdMetricsPort       = "2381"
	controllerManagerPort = "10257"
	schedulerPort         = "10259"
	kubeletPort           = "10250"
	kubeletHealthzPort    = "10248"
	certManagerMetrics    = "9402"
)

var clusterPorts = []string{apiServerPort, etcdClientPort, etcdPeerPort, etcdMetricsPort, controllerManagerPort, schedulerPort, kubeletHealthzPort, certManagerMetrics}

func etcdArgs(dataDir string) []string {
	return []string{
		"--name=hpp-e2e",
		"--data-dir=" + dataDir,
		"--listen-client-urls=http://127.0.0.1:" + etcdClientPort,
		"--advertise-client-urls=http://127.0.0.1:" + etcdClientPort,
		"--listen-peer-urls=http://127.0.0.1:" + etcdPeerPort,
		"--initial-advertise-peer-urls=http://127.0.0.1:" + etcdPeerPort,
		"--initial-cluster=hpp-e2e=http://127.0.0.1:" + etcdPeerPort,
		"--listen-metrics-urls=http://127.0.0.1:" + etcdMetricsPort,
		// Test data is thrown away with the cluster: durability buys nothing.
		"--unsafe-no-fsync=true",
		"--quota-backend-bytes=2147483648",
		"--log-level=warn",
	}
}

func apiServerArgs(p pki) []string {
	return []string{
		"--etcd-servers=http://127.0.0.1:" + etcdClientPort,
		"--bind-address=127.0.0.1",
		"--secure-port=" + apiServerPort,
		"--advertise-address=127.0.0.1",
		// The default reconciler refuses a loopback advertise address.
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=" + serviceCIDR,
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		"--enable-admission-plugins=NodeRestriction",
		"--client-ca-file=" + p.path("ca.crt"),
		"--tls-cert-file=" + p.path("apiserver.crt"),
		"--tls-private-key-file=" + p.path("apiserver.key"),
		"--kubelet-client-certificate=" + p.path("apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + p.path("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority=" + p.path("ca.crt"),
		// Otherwise `kubectl logs` looks the node name up in DNS.
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.path("sa.pub"),
		"--service-account-signing-key-file=" + p.path("sa.key"),
		// Without a front proxy CA the controller-manager and the scheduler
		// log CA bundle errors forever.
		"--requestheader-client-ca-file=" + p.path("front-proxy-ca.crt"),
		"--requestheader-allowed-names=" + frontProxyClientName,
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-username-headers=X-Remote-User",
		"--proxy-client-cert-file=" + p.path("front-proxy-client.crt"),
		"--proxy-client-key-file=" + p.path("front-proxy-client.key"),
		// No kube-proxy here: webhooks behind a Service are called on their
		// endpoint IPs directly.
		"--enable-aggregator-routing=true",
		"--profiling=false",
	}
}

// ControllerManagerArgsEnv adds flags to kube-controller-manager, for
// benchmarks that measure against its binder at another client rate
// (for example "--kube-api-qps=500 --kube-api-burst=1000").
const ControllerManagerArgsEnv = "HPP_E2E_KCM_ARGS"

func controllerManagerArgs(p pki, kubeconfig string) []string {
	return append(baseControllerManagerArgs(p, kubeconfig), strings.Fields(os.Getenv(ControllerManagerArgsEnv))...)
}

func baseControllerManagerArgs(p pki, kubeconfig string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + controllerManagerPort,
		"--controllers=*",
		"--use-service-account-credentials=true",
		"--root-ca-file=" + p.path("ca.crt"),
		"--cluster-signing-cert-file=" + p.path("ca.crt"),
		"--cluster-signing-key-file=" + p.path("ca.key"),
		"--service-account-private-key-file=" + p.path("sa.key"),
		"--requestheader-client-ca-file=" + p.path("front-proxy-ca.crt"),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--leader-elect=false",
		// The default 15s makes every claim take 8-12s to bind.
		"--pvclaimbinder-sync-period=1s",
		"--profiling=false",
	}
}

func schedulerArgs(kubeconfig string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + schedulerPort,
		"--leader-elect=false",
		"--profiling=false",
	}
}

// Paths inside the state dir, in one place so Start, Down and Status agree.
type layout struct{ dir string }

func (l layout) path(elem ...string) string {
	return filepath.Join(append([]string{l.dir}, elem...)...)
}
func (l layout) stateFile() string  { return l.path("state.json") }
func (l layout) kubeconfig() string { return l.path("kubeconfig") }
func (l layout) logs() string       { return l.path("logs") }
func (l layout) pki() string        { return l.path("pki") }
func (l layout) componentKubeconfig(name string) string {
	return l.path("kubeconfigs", name+".kubeconfig")
}
func (l layout) containerdSocket() string { return l.path("containerd", "containerd.sock") }

// isOurShim tells containerd's shims (which daemonize away from containerd)
// for this cluster's containerd from any other containerd's.
func (l layout) isOurShim(cmdline string) bool {
	return strings.Contains(cmdline, "containerd-shim") && strings.Contains(cmdline, l.containerdSocket())
}
