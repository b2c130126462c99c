package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DumpNamespace logs what a failed test needs to see: the namespace's claims,
// the volumes, pods, storage classes, events in time order (with the
// volumes' events, which live in "default"), and the end of each component
// log.
func DumpNamespace(t testing.TB, namespace string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b strings.Builder
	fmt.Fprintf(&b, "===== state of namespace %s after failure =====\n", namespace)
	c := mustCluster()
	for _, args := range [][]string{
		{"get", "pvc", "-n", namespace, "-o", "wide", "--show-labels"},
		{"get", "pv", "-o", "wide"},
		{"get", "pods", "-n", namespace, "-o", "wide"},
		{"get", "storageclass", "-o", "wide"},
		{"describe", "pvc", "-n", namespace},
		{"describe", "pods", "-n", namespace},
	} {
		out, err := c.Kubectl(ctx, args...)
		fmt.Fprintf(&b, "--- kubectl %s\n%s", strings.Join(args, " "), out)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
	}
	b.WriteString(eventsText(ctx, namespace))
	entries, _ := os.ReadDir(c.LogDir())
	for _, e := range entries {
		p := filepath.Join(c.LogDir(), e.Name())
		fmt.Fprintf(&b, "--- last 40 lines of %s\n%s\n", p, tailFile(p, 40))
	}
	t.Log(b.String())
}

func eventsText(ctx context.Context, namespace string) string {
	var events []corev1.Event
	for _, ns := range []string{namespace, metav1.NamespaceDefault} {
		list, err := Clientset().CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Sprintf("--- events: %v\n", err)
		}
		for _, e := range list.Items {
			if ns == namespace || e.InvolvedObject.Kind == "PersistentVolume" {
				events = append(events, e)
			}
		}
	}
	sort.SliceStable(events, func(i, j int) bool { return eventTime(events[i]).Before(eventTime(events[j])) })
	var b strings.Builder
	fmt.Fprintf(&b, "--- events (%d, oldest first)\n", len(events))
	for _, e := range events {
		fmt.Fprintf(&b, "%s %-7s %-20s %s/%s: %s (x%d, from %s)\n", eventTime(e).Format("15:04:05.000"), e.Type, e.Reason,
			e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Message, max(e.Count, 1), e.Source.Component+e.ReportingController)
	}
	return b.String()
}

// eventTime is the latest time an event carries: events.k8s.io writers set
// EventTime or Series, core writers LastTimestamp.
func eventTime(e corev1.Event) time.Time {
	t := e.LastTimestamp.Time
	if e.Series != nil && e.Series.LastObservedTime.After(t) {
		t = e.Series.LastObservedTime.Time
	}
	if e.EventTime.After(t) {
		t = e.EventTime.Time
	}
	if t.IsZero() {
		t = e.CreationTimestamp.Time
	}
	return t
}
