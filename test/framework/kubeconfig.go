package framework

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes a kubeconfig for the client certificate <name>.crt
// of the PKI; certificates are embedded so the file works when copied.
func writeKubeconfig(p pki, server, certName, dest string) error {
	cert, err := os.ReadFile(p.path(certName + ".crt"))
	if err != nil {
		return fmt.Errorf("reading %s certificate: %w", certName, err)
	}
	key, err := os.ReadFile(p.path(certName + ".key"))
	if err != nil {
		return fmt.Errorf("reading %s key: %w", certName, err)
	}
	const name = "hpp-e2e"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: p.ca.certPEM}
	cfg.AuthInfos[certName] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: certName, Namespace: "default"}
	cfg.CurrentContext = name
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fmt.Errorf("creating kubeconfig dir: %w", err)
	}
	if err := clientcmd.WriteToFile(*cfg, dest); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", dest, err)
	}
	return nil
}
