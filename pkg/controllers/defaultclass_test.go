package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

func TestDefaultClass(t *testing.T) {
	pending := func(ns string, mods ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
		c := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
			Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
		}
		for _, m := range mods {
			m(c)
		}
		return c
	}
	str := func(s string) *string { return &s }
	plainNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}
	annotatedNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", Annotations: map[string]string{policy.AnnNamespaceDefaultClass: "fast"}}}
	otherDefault := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "standard", Annotations: map[string]string{policy.AnnIsDefaultClass: "true"}}, Provisioner: "x"}

	tests := []struct {
		name        string
		objs        []client.Object
		claim       *corev1.PersistentVolumeClaim
		notLeader   bool
		wantClass   *string
		wantRequeue time.Duration
		wantEvent   string
	}{
		{name: "a class-less pending claim gets the configured default class and an event",
			objs: []client.Object{plainNS}, claim: pending("team"), wantClass: str("hostpath"), wantEvent: `DefaultClassAssigned storageClassName set to "hostpath"`},
		{name: "a class-less pending claim gets the namespace's default class",
			objs: []client.Object{annotatedNS}, claim: pending("team"), wantClass: str("fast"), wantEvent: policy.AnnNamespaceDefaultClass},
		{name: "a claim with the empty class is left alone",
			objs: []client.Object{plainNS}, claim: pending("team", func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = str("") }), wantClass: str("")},
		{name: "a claim with the beta class annotation is left alone",
			objs: []client.Object{plainNS}, claim: pending("team", func(c *corev1.PersistentVolumeClaim) {
				c.Annotations = map[string]string{policy.AnnBetaStorageClass: "other"}
			})},
		{name: "a pending claim for a pre-made volume by name is left class-less",
			objs: []client.Object{annotatedNS}, claim: pending("team", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "static-1" })},
		{name: "a pending claim with a selector is left class-less",
			objs: []client.Object{annotatedNS}, claim: pending("team", func(c *corev1.PersistentVolumeClaim) { c.Spec.Selector = &metav1.LabelSelector{} })},
		{name: "a bound claim is left alone",
			objs: []client.Object{plainNS}, claim: pending("team", func(c *corev1.PersistentVolumeClaim) { c.Status.Phase = corev1.ClaimBound; c.Spec.VolumeName = "pv" })},
		{name: "claims in kube-system are left alone",
			objs: []client.Object{}, claim: pending("kube-system")},
		{name: "claims in the provisioner's namespace are left alone",
			objs: []client.Object{}, claim: pending("hostpath-provisioner")},
		{name: "a non-leader waits and looks again later",
			objs: []client.Object{plainNS}, claim: pending("team"), notLeader: true, wantRequeue: notLeaderRequeue},
		{name: "with a cluster default class the claim is left to kube-controller-manager",
			objs: []client.Object{plainNS, otherDefault}, claim: pending("team")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := runtime.NewScheme()
			_ = clientgoscheme.AddToScheme(s)
			c := fake.NewClientBuilder().WithScheme(s).WithObjects(append(tt.objs, tt.claim)...).Build()
			rec := record.NewFakeRecorder(10)
			r := &DefaultClass{Client: c, DefaultClass: "hostpath", Namespace: "hostpath-provisioner", Recorder: rec,
				IsLeader: func() bool { return !tt.notLeader }}
			res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(tt.claim)})
			if err != nil {
				t.Fatal(err)
			}
			if res.RequeueAfter != tt.wantRequeue {
				t.Errorf("RequeueAfter = %v, want %v", res.RequeueAfter, tt.wantRequeue)
			}
			var got corev1.PersistentVolumeClaim
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(tt.claim), &got); err != nil {
				t.Fatal(err)
			}
			switch {
			case (got.Spec.StorageClassName == nil) != (tt.wantClass == nil):
				t.Errorf("storageClassName = %v, want %v", got.Spec.StorageClassName, tt.wantClass)
			case tt.wantClass != nil && *got.Spec.StorageClassName != *tt.wantClass:
				t.Errorf("storageClassName = %q, want %q", *got.Spec.StorageClassName, *tt.wantClass)
			}
			close(rec.Events)
			var events []string
			for e := range rec.Events {
				events = append(events, e)
			}
			if tt.wantEvent == "" && len(events) > 0 {
				t.Errorf("unexpected events %v", events)
			}
			if tt.wantEvent != "" && !strings.Contains(strings.Join(events, "\n"), tt.wantEvent) {
				t.Errorf("events %v do not contain %q", events, tt.wantEvent)
			}
		})
	}
}
