package webhook_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/codat-operator/codat-operator/internal/webhook"
)

// The leader labels its own Pod once it acts on deliveries, takes the label off a Pod a former
// leader left it on, and takes its own off when it stops.
func TestLeaderPodLabel(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	pod := func(name string, labelled bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: name, Labels: map[string]string{"app": "codat-operator"}}}
		if labelled {
			p.Labels[webhook.LabelReceiver] = webhook.LabelLeader
		}
		return p
	}
	k8s := fake.NewClientBuilder().WithScheme(scheme).WithObjects(pod("new-leader", false), pod("old-leader", true), pod("other", false)).Build()
	labelled := func() map[string]bool {
		t.Helper()
		out := map[string]bool{}
		for _, name := range []string{"new-leader", "old-leader", "other"} {
			p := &corev1.Pod{}
			if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: "ops", Name: name}, p); err != nil {
				t.Fatal(err)
			}
			if p.Labels["app"] != "codat-operator" {
				t.Errorf("%s lost its other labels: %v", name, p.Labels)
			}
			if p.Labels[webhook.LabelReceiver] == webhook.LabelLeader {
				out[name] = true
			}
		}
		return out
	}

	var ready atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	l := &webhook.LeaderPod{Pod: types.NamespacedName{Namespace: "ops", Name: "new-leader"}, Reader: k8s, Writer: k8s,
		Ready: ready.Load, Log: logr.Discard()}
	go func() { done <- l.Start(ctx) }()
	time.Sleep(300 * time.Millisecond)
	if got := labelled(); len(got) != 1 || !got["old-leader"] {
		t.Fatalf("before the controller runs, labelled %v: want the old leader's label untouched", got)
	}
	ready.Store(true)
	waitUntil(t, func() bool { got := labelled(); return len(got) == 1 && got["new-leader"] })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := labelled(); len(got) != 0 {
		t.Errorf("after the leader stopped, labelled %v: want none", got)
	}
}

func waitUntil(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("timed out")
}
