// Command hello-populator is a volume populator for the Kubernetes storage
// suites' "any volume data source" spec, packed under the image name the
// spec deploys (registry.k8s.io/sig-storage/hello-populator). It speaks the
// populator protocol of KEP-1495 as the suites' populator does, with the
// same flags, so the spec exercises our provisioner the way any populator
// would:
//
//   - --mode=controller watches claims whose dataSourceRef names a Hello
//     (hello.example.com). For each, it makes a "prime" claim of the same
//     class, size and node in its own namespace, and a pod that runs this
//     image with --mode=populate on it. When the pod has succeeded it hands
//     the prime claim's volume to the user's claim (spec.claimRef), which
//     the PV controller then binds, and deletes the pod and the prime claim.
//   - --mode=populate writes one file into the volume mounted at /mnt.
//
// It lists claims every half second instead of running informers: it serves
// one spec on one node, and a loop that reads everything each time has no
// cache to go stale.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

const (
	group = "hello.example.com"
	kind  = "Hello"
	// mountPath is where the populate pod sees the volume.
	mountPath = "/mnt"
	// annSelectedNode is the scheduler's choice for a WaitForFirstConsumer
	// claim; the prime claim carries it so its volume lands on that node.
	annSelectedNode = "volume.kubernetes.io/selected-node"
	// annFor names the user's claim (namespace/name/uid) on a prime claim,
	// so a prime whose user's claim is gone is found and deleted.
	annFor = "hello.example.com/populated-for"
)

var hellos = schema.GroupVersionResource{Group: group, Version: "v1alpha1", Resource: "hellos"}

func main() {
	klog.InitFlags(nil)
	mode := flag.String("mode", "", "controller or populate")
	namespace := flag.String("namespace", "hello", "controller: the namespace of the prime claims and populate pods")
	image := flag.String("image-name", "", "controller: the image the populate pods run (this one)")
	endpoint := flag.String("http-endpoint", "", "controller: address of a /healthz endpoint; empty serves none")
	fileName := flag.String("file-name", "", "populate: the file to write below "+mountPath)
	fileContents := flag.String("file-contents", "", "populate: what the file holds")
	flag.Parse()

	var err error
	switch *mode {
	case "populate":
		err = populateIn(mountPath, *fileName, *fileContents)
	case "controller":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		err = runController(ctx, *namespace, *image, *endpoint)
	default:
		err = fmt.Errorf("--mode=%q: want controller or populate", *mode)
	}
	if err != nil {
		klog.ErrorS(err, "hello-populator failed")
		os.Exit(1)
	}
}

// populateIn writes the Hello's file into the volume mounted at dir.
func populateIn(dir, name, contents string) error {
	if name == "" || filepath.IsAbs(name) || !filepath.IsLocal(name) {
		return fmt.Errorf("--file-name=%q: want a relative path inside the volume", name)
	}
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = f.WriteString(contents)
	return errors.Join(err, f.Sync(), f.Close())
}

type controller struct {
	cs        kubernetes.Interface
	dyn       dynamic.Interface
	namespace string
	image     string
}

func runController(ctx context.Context, namespace, image, endpoint string) error {
	if image == "" {
		return errors.New("--image-name is required in controller mode")
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return err
	}
	c := &controller{namespace: namespace, image: image}
	if c.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	if c.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return err
	}
	if endpoint != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
		srv := &http.Server{Addr: endpoint, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { klog.ErrorS(srv.ListenAndServe(), "http endpoint stopped") }()
		defer srv.Close()
	}
	klog.InfoS("populating claims", "group", group, "kind", kind, "namespace", namespace, "image", image)
	for {
		if err := c.sync(ctx); err != nil {
			klog.ErrorS(err, "sync")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// sync moves every claim for a Hello one step on, and deletes what is left
// of claims that are gone.
func (c *controller) sync(ctx context.Context) error {
	claims, err := c.cs.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	// The prime claims there are, by the UID of the user's claim.
	primes := map[types.UID]bool{}
	for i := range claims.Items {
		prime := &claims.Items[i]
		if owner, ok := prime.Annotations[annFor]; ok && prime.Namespace == c.namespace {
			primes[types.UID(owner[strings.LastIndex(owner, "/")+1:])] = true
		}
	}
	var errs []error
	for i := range claims.Items {
		user := &claims.Items[i]
		ref := user.Spec.DataSourceRef
		if ref == nil || ref.APIGroup == nil || *ref.APIGroup != group || ref.Kind != kind {
			continue
		}
		if user.Spec.VolumeName != "" { // bound: populated, or given a volume otherwise
			if primes[user.UID] {
				errs = append(errs, c.cleanUp(ctx, user.UID))
			}
		} else if err := c.populateClaim(ctx, user); err != nil {
			errs = append(errs, fmt.Errorf("claim %s/%s: %w", user.Namespace, user.Name, err))
		}
		delete(primes, user.UID)
	}
	for uid := range primes { // their user's claim is gone
		errs = append(errs, c.cleanUp(ctx, uid))
	}
	return errors.Join(errs...)
}

func primeName(user *corev1.PersistentVolumeClaim) string { return "prime-" + string(user.UID) }
func podName(user *corev1.PersistentVolumeClaim) string   { return "populate-" + string(user.UID) }

// populateClaim takes one step for an unbound user's claim: wait for its
// node, make the prime claim and the pod, hand the volume over, clean up.
func (c *controller) populateClaim(ctx context.Context, user *corev1.PersistentVolumeClaim) error {
	if user.Spec.StorageClassName == nil || *user.Spec.StorageClassName == "" {
		return errors.New("no storage class: nothing to provision the prime claim with")
	}
	class, err := c.cs.StorageV1().StorageClasses().Get(ctx, *user.Spec.StorageClassName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	node := user.Annotations[annSelectedNode]
	if node == "" && class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer {
		return nil // the scheduler has not chosen a node yet
	}
	hello, err := c.dyn.Resource(hellos).Namespace(user.Namespace).Get(ctx, user.Spec.DataSourceRef.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading its Hello: %w", err)
	}
	fileName, _, _ := unstructured.NestedString(hello.Object, "spec", "fileName")
	fileContents, _, _ := unstructured.NestedString(hello.Object, "spec", "fileContents")

	prime, err := c.ensurePrime(ctx, user, node)
	if err != nil {
		return err
	}
	pod, err := c.ensurePod(ctx, user, prime, fileName, fileContents)
	if err != nil {
		return err
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
	case corev1.PodFailed:
		klog.InfoS("populate pod failed; starting it again", "pod", klog.KObj(pod), "claim", klog.KObj(user))
		return c.delete(ctx, "pod", c.cs.CoreV1().Pods(c.namespace).Delete, pod.Name)
	default:
		return nil
	}
	if prime.Spec.VolumeName == "" {
		return nil
	}
	pv, err := c.cs.CoreV1().PersistentVolumes().Get(ctx, prime.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.UID != user.UID {
		// The PV controller binds the user's claim to a volume whose
		// claimRef names it, as to a volume an admin pre-bound.
		patch := fmt.Sprintf(`{"spec":{"claimRef":{"apiVersion":"v1","kind":"PersistentVolumeClaim","namespace":%q,"name":%q,"uid":%q,"resourceVersion":%q}}}`,
			user.Namespace, user.Name, user.UID, user.ResourceVersion)
		if _, err := c.cs.CoreV1().PersistentVolumes().Patch(ctx, pv.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("handing volume %s over: %w", pv.Name, err)
		}
		klog.InfoS("volume populated and handed over", "pv", pv.Name, "claim", klog.KObj(user))
	}
	return c.cleanUp(ctx, user.UID)
}

func (c *controller) ensurePrime(ctx context.Context, user *corev1.PersistentVolumeClaim, node string) (*corev1.PersistentVolumeClaim, error) {
	prime, err := c.cs.CoreV1().PersistentVolumeClaims(c.namespace).Get(ctx, primeName(user), metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		return prime, err
	}
	prime = &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name: primeName(user), Namespace: c.namespace,
			Annotations: map[string]string{annFor: user.Namespace + "/" + user.Name + "/" + string(user.UID)},
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      user.Spec.AccessModes,
			Resources:        user.Spec.Resources,
			StorageClassName: user.Spec.StorageClassName,
			VolumeMode:       user.Spec.VolumeMode,
		},
	}
	if node != "" {
		prime.Annotations[annSelectedNode] = node
	}
	return c.cs.CoreV1().PersistentVolumeClaims(c.namespace).Create(ctx, prime, metav1.CreateOptions{})
}

func (c *controller) ensurePod(ctx context.Context, user, prime *corev1.PersistentVolumeClaim, fileName, fileContents string) (*corev1.Pod, error) {
	pod, err := c.cs.CoreV1().Pods(c.namespace).Get(ctx, podName(user), metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		return pod, err
	}
	pod = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: podName(user), Namespace: c.namespace},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name:            "populate",
				Image:           c.image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Args:            []string{"--mode=populate", "--file-name=" + fileName, "--file-contents=" + fileContents},
				VolumeMounts:    []corev1.VolumeMount{{Name: "target", MountPath: mountPath}},
			}},
			Volumes: []corev1.Volume{{Name: "target", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: prime.Name},
			}}},
		},
	}
	return c.cs.CoreV1().Pods(c.namespace).Create(ctx, pod, metav1.CreateOptions{})
}

// cleanUp deletes the populate pod and the prime claim of a user's claim.
// After the hand-over the prime claim's volume is no longer its own, so
// deleting it frees nothing.
func (c *controller) cleanUp(ctx context.Context, user types.UID) error {
	u := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{UID: user}}
	return errors.Join(
		c.delete(ctx, "pod", c.cs.CoreV1().Pods(c.namespace).Delete, podName(u)),
		c.delete(ctx, "prime claim", c.cs.CoreV1().PersistentVolumeClaims(c.namespace).Delete, primeName(u)),
	)
}

func (c *controller) delete(ctx context.Context, what string, del func(context.Context, string, metav1.DeleteOptions) error, name string) error {
	if err := del(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s %s: %w", what, name, err)
	}
	return nil
}
