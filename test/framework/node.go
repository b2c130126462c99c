package framework

import (
	"fmt"
	"os"
	"path/filepath"
)

// writeContainerdConfig keeps everything containerd owns under the state dir
// and applies the fixes this VM needs (see CLUSTER.md). Registries are
// configured per host in certs.d (see writeRegistryHosts).
func writeContainerdConfig(l layout) (string, error) {
	cfg := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[4]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[5]q
  # This VM lacks CAP_SYS_RESOURCE: without it runc fails every container.
  restrict_oom_score_adj = true
  # Pod network namespaces under the state dir, not /run/netns.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  enable_cdi = false

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[6]q

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[7]q
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %[8]q
`, l.path("containerd", "root"), l.path("containerd", "state"), l.containerdSocket(), l.path("containerd", "opt"),
		PauseImage, l.path("runc"), l.path("cni", "net.d"), l.registryHostsDir())
	path := l.path("containerd", "config.toml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("creating containerd dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return "", fmt.Errorf("writing containerd config: %w", err)
	}
	if err := writeRegistryHosts(l); err != nil {
		return "", err
	}
	return path, nil
}

// registryHostsDir is containerd's certs.d: <host:port>/hosts.toml says how
// to reach each registry (containerd reads it at every pull).
func (l layout) registryHostsDir() string { return l.path("containerd", "certs.d") }

// writeRegistryHosts tells containerd that the e2e registry (RegistryHost)
// speaks plain HTTP, as a user tells it about an in-house registry without
// TLS; other registries keep containerd's defaults (HTTPS).
func writeRegistryHosts(l layout) error {
	hosts := fmt.Sprintf(`# The e2e tests' registry (test/framework/registry.go), plain HTTP on the node's address.
server = "http://%[1]s"

[host."http://%[1]s"]
  capabilities = ["pull", "resolve"]
`, RegistryHost)
	path := filepath.Join(l.registryHostsDir(), RegistryHost, "hosts.toml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating containerd certs.d: %w", err)
	}
	if err := os.WriteFile(path, []byte(hosts), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// writeCNIConfig writes a bridge network for the pods. Masquerading stays off:
// pods only ever talk to this machine (the API server through
// routeServiceIP's rule), so no source NAT is needed. containerd
// sets up each pod's lo with the loopback plugin from the same bin dir.
func writeCNIConfig(l layout) error {
	conf := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "hpp-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": %q
      }
    }
  ]
}
`, bridgeName, podSubnet, l.path("cni", "ipam"))
	dir := l.path("cni", "net.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating CNI conf dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "10-hpp-e2e.conflist"), []byte(conf), 0o644); err != nil {
		return fmt.Errorf("writing CNI config: %w", err)
	}
	return nil
}

func writeKubeletConfig(l layout, p pki) (string, error) {
	cfg := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: %[2]s
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[3]s
containerRuntimeEndpoint: unix://%[4]s
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %[5]s
authorization:
  mode: Webhook
tlsCertFile: %[6]s
tlsPrivateKeyFile: %[7]s
# cgroup v1 host without systemd as init
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
# This VM lacks CAP_SYS_RESOURCE.
oomScoreAdj: 0
podLogsDir: %[8]s
volumePluginDir: %[9]s
resolvConf: /etc/resolv.conf
hairpinMode: hairpin-veth
makeIPTablesUtilChains: false
serializeImagePulls: false
# Imported images cannot be pulled again: never garbage-collect them, and
# never evict pods because the test machine's disk is fuller than a node's.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%%"
  nodefs.inodesFree: "1%%"
  imagefs.available: "1%%"
fileCheckFrequency: 5s
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
shutdownGracePeriod: 0s
`, nodeIP, kubeletPort, kubeletHealthzPort, l.containerdSocket(), p.path("ca.crt"),
		p.path("kubelet-serving.crt"), p.path("kubelet-serving.key"), l.path("pod-logs"), l.path("kubelet-plugins"))
	path := l.path("kubelet-config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return "", fmt.Errorf("writing kubelet config: %w", err)
	}
	return path, nil
}

func kubeletArgs(l layout, config, kubeconfig, nodeName string) []string {
	return []string{
		"--config=" + config,
		"--kubeconfig=" + kubeconfig,
		"--root-dir=" + l.path("kubelet"),
		"--cert-dir=" + l.path("kubelet", "pki"),
		"--hostname-override=" + nodeName,
		// The kubelet refuses 127/8; this address lives on lo.
		"--node-ip=" + nodeIP,
		"--v=1",
	}
}
