package controller

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/log"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

// writeMetadata writes the object's metadata (finalizer, create-pending
// marker) with optimistic concurrency. The API server answers with the stored
// object, whose status the pass has not written yet, so the status in memory
// is kept. A conflict means a newer version exists: the pass ends (errRaced).
func (r *Reconciler) writeMetadata(ctx context.Context, obj *codatv1.CodatConnection) error {
	status := obj.Status.DeepCopy()
	err := r.Client.Update(ctx, obj)
	obj.Status = *status
	if err == nil {
		r.wrote.Store(nameOf(obj), obj.ResourceVersion)
	}
	return metadataWritten(ctx, err)
}

// metadataWritten sorts the answer to a metadata write of either kind: a
// conflict ends the pass quietly (errRaced), any other failure is the API
// server failing us.
func metadataWritten(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		log.FromContext(ctx).V(1).Info("metadata write lost a race; retrying")
		return errRaced
	default:
		return fmt.Errorf("writing the finalizer or annotations: %w", err)
	}
}
