package framework

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// hostSnapshot is what the host looked like before the cluster started,
// taken before anything is changed and stored in the state file so that a
// crashed run can still be undone.
type hostSnapshot struct {
	Sysctls map[string]string `json:"sysctls"`
	// IPTablesChains holds the chains that existed, by "<tool>/<table>":
	// only chains created since are deleted.
	IPTablesChains map[string][]string `json:"iptablesChains"`
	AddedNodeIP    bool                `json:"addedNodeIP"`
	// CreatedPaths are well-known host directories that containerd, runc or
	// the kubelet create regardless of their configured roots.
	CreatedPaths []string `json:"createdPaths"`
	// CgroupDirs are the kubepods cgroups (one per hierarchy) that did not
	// exist before.
	CgroupDirs []string `json:"cgroupDirs"`
}

// sysctlsTouched are the sysctls the kubelet (setupKernelTunables), the
// CNI bridge plugin (gateway forwarding) and routeServiceIP change.
var sysctlsTouched = []string{
	"vm/overcommit_memory",
	"vm/panic_on_oom",
	"kernel/panic",
	"kernel/panic_on_oops",
	"kernel/keys/root_maxkeys",
	"kernel/keys/root_maxbytes",
	"net/ipv4/conf/all/route_localnet",
	"net/bridge/bridge-nf-call-iptables",
	"net/ipv6/conf/all/forwarding",
	// Last: writing it resets every per-interface forwarding flag.
	"net/ipv4/ip_forward",
}

var hostPathsTouched = []string{
	"/run/containerd", // shim sockets live in /run/containerd/s whatever the state dir
	"/run/runc",
	"/run/netns",
	"/run/kubernetes",
	"/run/mount", // libmount's utab, when the kubelet mounts tmpfs volumes
	"/var/log/pods",
	"/var/log/containers", // the kubelet's container log symlinks are not configurable
	"/var/lib/kubelet",
	"/var/lib/containerd",
	"/var/lib/cni",
	"/etc/cni",
	"/opt/cni",
	"/opt/containerd",
	"/usr/libexec/kubernetes",
}

var iptablesTools = []string{"iptables-nft", "iptables-legacy", "ip6tables-nft", "ip6tables-legacy"}

const (
	nodeIP      = "10.200.0.1"
	bridgeName  = "hpp0"
	podSubnet   = "10.244.0.0/24"
	serviceIP   = "10.0.0.1"
	serviceCIDR = "10.0.0.0/24"
)

func takeSnapshot() (hostSnapshot, error) {
	s := hostSnapshot{Sysctls: map[string]string{}, IPTablesChains: map[string][]string{}}
	for _, k := range sysctlsTouched {
		if b, err := os.ReadFile("/proc/sys/" + k); err == nil {
			s.Sysctls[k] = strings.TrimSpace(string(b))
		}
	}
	for _, tool := range iptablesTools {
		tables, err := iptablesSave(tool)
		if err != nil {
			continue // this variant is not installed
		}
		for table, t := range tables {
			s.IPTablesChains[tool+"/"+table] = t.chains
		}
	}
	for _, p := range hostPathsTouched {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			s.CreatedPaths = append(s.CreatedPaths, p)
		}
	}
	for _, h := range cgroupHierarchies() {
		d := filepath.Join(h, "kubepods")
		if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
			s.CgroupDirs = append(s.CgroupDirs, d)
		}
	}
	return s, nil
}

// cgroupHierarchies lists the mounted cgroup (v1 and v2) hierarchies.
func cgroupHierarchies() []string {
	var out []string
	for _, m := range readMounts() {
		if m.fstype == "cgroup" || m.fstype == "cgroup2" {
			out = append(out, m.point)
		}
	}
	return out
}

// addNodeIP puts the node IP on lo: the kubelet refuses a 127/8 node IP and
// this kernel has no dummy interfaces.
func addNodeIP() (added bool, err error) {
	out, err := exec.Command("ip", "-o", "addr", "show", "dev", "lo").CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("ip addr show lo: %w: %s", err, out)
	}
	if strings.Contains(string(out), " "+nodeIP+"/") {
		return false, nil
	}
	if out, err := exec.Command("ip", "addr", "add", nodeIP+"/32", "dev", "lo").CombinedOutput(); err != nil {
		return false, fmt.Errorf("ip addr add %s/32 dev lo: %w: %s", nodeIP, err, out)
	}
	return true, nil
}

// serviceChain holds the one rule that stands in for kube-proxy.
const serviceChain = "HPP-E2E-SERVICES"

// routeServiceIP makes the kubernetes Service's address (serviceIP:443,
// what in-cluster clients read from KUBERNETES_SERVICE_HOST/PORT) reach the
// API server on 127.0.0.1, as kube-proxy would on a real node: a DNAT rule
// for packets from pods (PREROUTING) and from the host (OUTPUT), and
// route_localnet so the kernel routes a pod's packet to a loopback address
// at all. The API server's certificate names serviceIP, so clients verify
// it as in any cluster. The chain and the sysctl are undone by restore.
func routeServiceIP() error {
	ipt, err := lookPath("iptables")
	if err != nil {
		return err
	}
	rules := [][]string{
		{"-t", "nat", "-N", serviceChain},
		{"-t", "nat", "-A", serviceChain, "-d", serviceIP + "/32", "-p", "tcp", "--dport", "443",
			"-j", "DNAT", "--to-destination", "127.0.0.1:" + apiServerPort},
		{"-t", "nat", "-A", "PREROUTING", "-j", serviceChain},
		{"-t", "nat", "-A", "OUTPUT", "-j", serviceChain},
	}
	if exec.Command(ipt, "-t", "nat", "-S", serviceChain).Run() == nil {
		return nil // a cluster that was started before and not taken down
	}
	for _, r := range rules {
		if out, err := exec.Command(ipt, r...).CombinedOutput(); err != nil {
			return fmt.Errorf("iptables %s: %w: %s", strings.Join(r, " "), err, out)
		}
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/all/route_localnet", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("routing pods' packets to the API server on loopback (route_localnet): %w", err)
	}
	return nil
}

// restore undoes every host change except processes and mounts, which the
// caller handles first. It tries everything and returns all errors.
func (s hostSnapshot) restore() []error {
	var errs []error
	if s.AddedNodeIP {
		out, _ := exec.Command("ip", "-o", "addr", "show", "dev", "lo").CombinedOutput()
		if strings.Contains(string(out), " "+nodeIP+"/") {
			if out, err := exec.Command("ip", "addr", "del", nodeIP+"/32", "dev", "lo").CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("removing %s from lo: %w: %s", nodeIP, err, out))
			}
		}
	}
	if exec.Command("ip", "link", "show", bridgeName).Run() == nil {
		if out, err := exec.Command("ip", "link", "del", bridgeName).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("deleting bridge %s: %w: %s", bridgeName, err, out))
		}
	}
	errs = append(errs, s.restoreIPTables()...)
	for _, k := range sysctlsTouched {
		v, ok := s.Sysctls[k]
		if !ok {
			continue
		}
		cur, err := os.ReadFile("/proc/sys/" + k)
		if err == nil && strings.TrimSpace(string(cur)) == v {
			continue
		}
		if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restoring sysctl %s=%s: %w", k, v, err))
		}
	}
	for _, d := range s.CgroupDirs {
		if err := removeCgroupTree(d); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range s.CreatedPaths {
		if busy := mountsUnder(p); len(busy) > 0 {
			errs = append(errs, fmt.Errorf("not removing %s: still mounted: %s", p, strings.Join(busy, ", ")))
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", p, err))
		}
	}
	return errs
}

// removeCgroupTree removes a cgroup and its children, deepest first (cgroup
// directories can only be removed with rmdir, once empty of children).
func removeCgroupTree(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walking cgroup %s: %w", root, err)
	}
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("removing cgroup %s: %w", dirs[i], err))
		}
	}
	return errors.Join(errs...)
}

// cgroupPIDs lists the processes in a cgroup tree: the containers' processes.
func cgroupPIDs(root string) []int {
	var pids []int
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(b)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

type iptablesTable struct {
	chains []string
	rules  []string // "-A CHAIN ..." lines as iptables-save prints them
}

func iptablesSave(tool string) (map[string]*iptablesTable, error) {
	save, err := lookPath(tool + "-save")
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(save).Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", save, err)
	}
	tables := map[string]*iptablesTable{}
	var cur *iptablesTable
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "*"):
			cur = &iptablesTable{}
			tables[line[1:]] = cur
		case cur == nil:
		case strings.HasPrefix(line, ":"):
			cur.chains = append(cur.chains, strings.Fields(line[1:])[0])
		case strings.HasPrefix(line, "-A "):
			cur.rules = append(cur.rules, line)
		}
	}
	return tables, nil
}

// restoreIPTables deletes the KUBE-*, CNI-* and serviceChain chains created since the
// snapshot, and the rules that jump to them, through iptables-restore
// --noflush so quoting in rule comments is handled by iptables itself.
func (s hostSnapshot) restoreIPTables() []error {
	var errs []error
	for _, tool := range iptablesTools {
		tables, err := iptablesSave(tool)
		if err != nil {
			continue
		}
		var script strings.Builder
		for name, t := range tables {
			before := map[string]bool{}
			for _, c := range s.IPTablesChains[tool+"/"+name] {
				before[c] = true
			}
			var created []string
			for _, c := range t.chains {
				if !before[c] && (strings.HasPrefix(c, "KUBE-") || strings.HasPrefix(c, "CNI-") || c == serviceChain) {
					created = append(created, c)
				}
			}
			if len(created) == 0 {
				continue
			}
			sort.Strings(created)
			isNew := map[string]bool{}
			for _, c := range created {
				isNew[c] = true
			}
			fmt.Fprintf(&script, "*%s\n", name)
			for _, r := range t.rules {
				f := strings.Fields(r)
				if isNew[f[1]] {
					continue // flushed below
				}
				for i := 2; i+1 < len(f); i++ {
					if (f[i] == "-j" || f[i] == "-g") && isNew[f[i+1]] {
						fmt.Fprintf(&script, "-D%s\n", strings.TrimPrefix(r, "-A"))
						break
					}
				}
			}
			for _, c := range created {
				fmt.Fprintf(&script, "-F %s\n", c)
			}
			for _, c := range created {
				fmt.Fprintf(&script, "-X %s\n", c)
			}
			script.WriteString("COMMIT\n")
		}
		if script.Len() == 0 {
			continue
		}
		restore, err := lookPath(tool + "-restore")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cmd := exec.Command(restore, "--noflush")
		cmd.Stdin = strings.NewReader(script.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s --noflush: %w: %s\ninput:\n%s", restore, err, out, script.String()))
		}
	}
	return errs
}
