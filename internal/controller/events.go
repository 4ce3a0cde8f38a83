package controller

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/log"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

const (
	eventNormal  = "Normal"
	eventWarning = "Warning"
)

// event records a change the operator made in Codat (or found there), as an
// event on the object and a line in the log.
func (r *Reconciler) event(ctx context.Context, obj *codatv1.CodatConnection, eventType, reason, note string, args ...any) {
	emit(ctx, r.Recorder, obj, eventType, reason, note, args...)
}

// emit records an event on an object of either kind, and a line in the log.
func emit(ctx context.Context, recorder events.EventRecorder, obj runtime.Object, eventType, reason, note string, args ...any) {
	log.FromContext(ctx).Info(fmt.Sprintf(note, args...), "event", reason)
	recorder.Eventf(obj, nil, eventType, reason, reason, note, args...)
}

func nameOf(obj *codatv1.CodatConnection) types.NamespacedName {
	return types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name}
}
