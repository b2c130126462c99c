package framework

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// keyPair is a certificate with its private key, kept both parsed (to sign
// more certificates) and PEM encoded (to write files and kubeconfigs).
type keyPair struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	keyPEM  []byte
}

type certSpec struct {
	cn    string
	orgs  []string
	dns   []string
	ips   []net.IP
	usage []x509.ExtKeyUsage
}

var (
	clientAuth = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	serverAuth = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
)

// certValidity is long enough for a cluster left running by `cluster up` and
// short enough that a forgotten state dir does not hold a usable CA for long.
const certValidity = 30 * 24 * time.Hour

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	// P-256 keys take microseconds to make, so every start gets a fresh PKI.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding key: %w", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	return n, nil
}

func newCA(cn string) (*keyPair, error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour), // tolerate small clock differences
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	return selfSign(tmpl, key, keyPEM)
}

func selfSign(tmpl *x509.Certificate, key *ecdsa.PrivateKey, keyPEM []byte) (*keyPair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-signing %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", tmpl.Subject.CommonName, err)
	}
	return &keyPair{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM: keyPEM}, nil
}

func (ca *keyPair) issue(spec certSpec) (*keyPair, error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: spec.cn, Organization: spec.orgs},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  spec.usage,
		DNSNames:     spec.dns,
		IPAddresses:  spec.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("issuing %q: %w", spec.cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", spec.cn, err)
	}
	return &keyPair{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM: keyPEM}, nil
}

// write stores <name>.crt and <name>.key in dir.
func (kp *keyPair) write(dir, name string) error {
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), kp.certPEM, 0o644); err != nil {
		return fmt.Errorf("writing %s certificate: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), kp.keyPEM, 0o600); err != nil {
		return fmt.Errorf("writing %s key: %w", name, err)
	}
	return nil
}

// pki is every certificate and key file of the cluster, by purpose.
type pki struct {
	dir string
	ca  *keyPair
}

func (p pki) path(name string) string { return filepath.Join(p.dir, name) }

// Names of the client identities; the apiserver's RBAC bootstrap policy
// grants each of these what its component needs.
const (
	adminUser             = "kubernetes-admin"
	controllerManagerUser = "system:kube-controller-manager"
	schedulerUser         = "system:kube-scheduler"
	frontProxyClientName  = "front-proxy-client"
)

// generatePKI writes the whole PKI of a cluster into dir.
func generatePKI(dir, nodeName string, nodeIP net.IP) (pki, error) {
	p := pki{dir: dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return p, fmt.Errorf("creating PKI dir: %w", err)
	}
	ca, err := newCA("hpp-e2e-ca")
	if err != nil {
		return p, err
	}
	p.ca = ca
	frontCA, err := newCA("hpp-e2e-front-proxy-ca")
	if err != nil {
		return p, err
	}
	loopback := []net.IP{net.ParseIP("127.0.0.1"), nodeIP}
	type issued struct {
		name   string
		issuer *keyPair
		spec   certSpec
	}
	all := []issued{
		{"apiserver", ca, certSpec{
			cn:    "kube-apiserver",
			dns:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			ips:   append([]net.IP{net.ParseIP(serviceIP)}, loopback...),
			usage: serverAuth,
		}},
		{"apiserver-kubelet-client", ca, certSpec{cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}, usage: clientAuth}},
		{"front-proxy-client", frontCA, certSpec{cn: frontProxyClientName, usage: clientAuth}},
		{"admin", ca, certSpec{cn: adminUser, orgs: []string{"system:masters"}, usage: clientAuth}},
		{"controller-manager", ca, certSpec{cn: controllerManagerUser, usage: clientAuth}},
		{"scheduler", ca, certSpec{cn: schedulerUser, usage: clientAuth}},
		{"kubelet-client", ca, certSpec{cn: "system:node:" + nodeName, orgs: []string{"system:nodes"}, usage: clientAuth}},
		{"kubelet-serving", ca, certSpec{cn: nodeName, dns: []string{nodeName, "localhost"}, ips: loopback, usage: serverAuth}},
	}
	for _, c := range all {
		kp, err := c.issuer.issue(c.spec)
		if err != nil {
			return p, err
		}
		if err := kp.write(dir, c.name); err != nil {
			return p, err
		}
	}
	if err := ca.write(dir, "ca"); err != nil {
		return p, err
	}
	if err := frontCA.write(dir, "front-proxy-ca"); err != nil {
		return p, err
	}
	return p, writeServiceAccountKeys(dir)
}

// writeServiceAccountKeys writes sa.key (token signing, for the apiserver and
// the controller-manager) and sa.pub (token verification).
func writeServiceAccountKeys(dir string) error {
	key, keyPEM, err := newKey()
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return fmt.Errorf("encoding service account public key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), keyPEM, 0o600); err != nil {
		return fmt.Errorf("writing service account key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return fmt.Errorf("writing service account public key: %w", err)
	}
	return nil
}

// LoopbackServingCert writes tls.crt and tls.key for 127.0.0.1, issued by
// a fresh CA, into dir (the layout of a cert-manager Secret mounted as a
// webhook cert dir) and returns the CA certificate as PEM, for a caBundle.
func LoopbackServingCert(dir string) ([]byte, error) {
	ca, err := newCA("hostpath-provisioner-test-ca")
	if err != nil {
		return nil, err
	}
	srv, err := ca.issue(certSpec{cn: "127.0.0.1", ips: []net.IP{net.ParseIP("127.0.0.1")}, usage: serverAuth})
	if err != nil {
		return nil, err
	}
	if err := srv.write(dir, "tls"); err != nil {
		return nil, err
	}
	return ca.certPEM, nil
}
