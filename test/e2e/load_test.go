package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// 1,000 claims created at once in four namespaces are all Bound with no
// provisioning failure; deleting them all removes every directory.
func TestLoad1000ClaimsBindAndGoAway(t *testing.T) {
	const perNamespace, namespaces = 250, 4
	base := baseDir(t)
	startProvisioner(t, base)
	cfg := framework.RESTConfig()
	cfg.QPS, cfg.Burst = 1000, 2000
	cs := kubernetes.NewForConfigOrDie(cfg)

	var nss []string
	for range namespaces {
		nss = append(nss, framework.NewNamespace(t))
	}
	sc := storageClass(t, nss[0], immediate, deletePol, nil)

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, perNamespace*namespaces)
	for _, ns := range nss {
		for w := range 4 {
			wg.Go(func() {
				for i := w; i < perNamespace; i += 4 {
					if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctxT(t), newClaim(ns, fmt.Sprintf("c%d", i), "1Mi", &sc.Name, nil), metav1.CreateOptions{}); err != nil {
						errs <- err
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("creating claims: %v", err)
	}
	framework.WaitForProgress(t, "claims Bound", perNamespace*namespaces, 2*time.Minute, func() (int, error) {
		bound := 0
		for _, ns := range nss {
			list, err := cs.CoreV1().PersistentVolumeClaims(ns).List(ctxT(t), metav1.ListOptions{})
			if err != nil {
				return 0, err
			}
			for _, c := range list.Items {
				if c.Status.Phase == corev1.ClaimBound {
					bound++
				}
			}
		}
		return bound, nil
	})
	t.Logf("load: %d claims Bound %.1fs after the first create", perNamespace*namespaces, time.Since(start).Seconds())
	if entries, _ := framework.VolumeDirs(base); len(entries) != perNamespace*namespaces {
		t.Errorf("%d directories for %d claims", len(entries), perNamespace*namespaces)
	}
	for _, ns := range nss {
		evs, err := cs.CoreV1().Events(ns).List(ctxT(t), metav1.ListOptions{FieldSelector: "reason=ProvisioningFailed"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs.Items) > 0 {
			t.Errorf("namespace %s: %d ProvisioningFailed events, first: %s", ns, len(evs.Items), evs.Items[0].Message)
		}
	}

	start = time.Now()
	for _, ns := range nss {
		if err := cs.CoreV1().PersistentVolumeClaims(ns).DeleteCollection(ctxT(t), metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	framework.WaitForProgress(t, "directories removed", perNamespace*namespaces, 2*time.Minute, func() (int, error) {
		entries, err := framework.VolumeDirs(base)
		return perNamespace*namespaces - len(entries), err
	})
	t.Logf("load: all %d directories removed %.1fs after deleting the claims", perNamespace*namespaces, time.Since(start).Seconds())
}
