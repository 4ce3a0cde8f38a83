package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Deliveries go to the leader: only its controller acts on an event, and a replica that is not
// the leader answers 503, which Codat retries seconds, then minutes later. The leader labels its
// own Pod with LabelReceiver=LabelLeader and the receiver's Service selects that label, so that
// with several replicas no delivery waits for a retry.
const (
	LabelReceiver = "codat.io/webhook-receiver"
	LabelLeader   = "leader"
)

// LeaderPod is the runnable that puts the label on the leader's Pod. It runs on the leader only
// (on the single replica without leader election): it labels its Pod, takes the label off any
// other Pod of the namespace (a leader that died before it could), and takes its own label off
// when it stops, so that the Service never routes to a replica that lost the lead.
type LeaderPod struct {
	// Pod is the manager's own Pod (the downward API's POD_NAMESPACE and POD_NAME).
	Pod types.NamespacedName
	// Reader lists the namespace's Pods from the API server: the manager does not cache Pods.
	Reader client.Reader
	// Writer patches Pods' labels.
	Writer client.Writer
	// Ready, when set, says whether this replica acts on deliveries yet (the Sink's Ready): the
	// label waits for it, so that no delivery is routed here before the controller runs.
	Ready func() bool
	Log   logr.Logger
}

// NeedLeaderElection is true: only the leader acts on deliveries.
func (l *LeaderPod) NeedLeaderElection() bool { return true }

// Start labels the Pod and keeps the label until ctx ends. A failed label costs routed
// deliveries, never correctness (a replica that is not the leader answers 503): it is retried.
func (l *LeaderPod) Start(ctx context.Context) error {
	for l.Ready != nil && !l.Ready() {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
	for {
		err := l.label(ctx)
		if err == nil {
			break
		}
		l.Log.Error(err, "labelling the leader's Pod for webhook deliveries failed; retrying", "pod", l.Pod)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Second):
		}
	}
	l.Log.Info("this replica's Pod receives Codat's webhook deliveries", "pod", l.Pod, "label", LabelReceiver+"="+LabelLeader)
	<-ctx.Done()
	// The manager is stopping or lost the lead: the next leader labels its Pod.
	unlabel, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := l.set(unlabel, l.Pod.Name, false); err != nil {
		l.Log.Error(err, "taking the webhook label off this replica's Pod failed; the next leader takes it off", "pod", l.Pod)
	}
	return nil
}

// label puts the label on this Pod and takes it off the namespace's others.
func (l *LeaderPod) label(ctx context.Context) error {
	if err := l.set(ctx, l.Pod.Name, true); err != nil {
		return err
	}
	pods := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"}}
	if err := l.Reader.List(ctx, pods, client.InNamespace(l.Pod.Namespace), client.MatchingLabels{LabelReceiver: LabelLeader}); err != nil {
		return fmt.Errorf("listing the Pods labelled %s: %w", LabelReceiver, err)
	}
	for _, p := range pods.Items {
		if p.Name != l.Pod.Name {
			if err := l.set(ctx, p.Name, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// set adds or removes the label of one Pod of the namespace with a merge patch of its labels
// alone: nothing else of the Pod is read or written. A Pod that is gone needs no label taken off.
func (l *LeaderPod) set(ctx context.Context, name string, on bool) error {
	var value any
	if on {
		value = LabelLeader
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{LabelReceiver: value}}})
	if err != nil {
		return err
	}
	pod := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: l.Pod.Namespace, Name: name}}
	if err := l.Writer.Patch(ctx, pod, client.RawPatch(types.MergePatchType, patch)); err != nil {
		if !on && client.IgnoreNotFound(err) == nil {
			return nil
		}
		return fmt.Errorf("patching the labels of Pod %s/%s: %w", l.Pod.Namespace, name, err)
	}
	return nil
}
