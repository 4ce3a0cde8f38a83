package controller

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/budget"
	"github.com/codat-operator/codat-operator/internal/pacer"
)

// CompanyReconciler reconciles CodatCompanies with Codat's companies: it creates or adopts the
// company, keeps its name, description and tags as the spec says, and deletes it when the object
// goes with deletionPolicy Delete, once no connection in the cluster uses it. It shares with the
// CodatConnection reconciler the way credentials are resolved, the tenancy rules, the failure
// classes, the view of conditions and the pacing rules (a pacer of its own, the same budget).
type CompanyReconciler struct {
	// Client reads CodatCompanies and CodatConnections from the manager's cache and writes them.
	Client client.Client
	// APIReader reads Secrets, and objects the cache may not show yet, from the API server.
	APIReader client.Reader
	// Codat binds Codat's company API to an object's credentials.
	Codat CompanyConnector
	// Pacer decides when each CodatCompany calls Codat. Without one, the reconciler makes its own.
	Pacer *pacer.Pacer
	// Budget, when set, is shared with the connections' pacer (used by a pacer the reconciler makes).
	Budget      *budget.Budget
	Metrics     *Metrics
	Recorder    events.EventRecorder
	Credentials DefaultCredentials
	Intervals   Intervals
	// Namespaces are those the manager watches (--watch-namespaces); empty is all.
	Namespaces []string
	// Now is the clock; tests may replace it.
	Now func() time.Time

	once sync.Once
	// wrote holds the resourceVersion of the operator's last write per object (see read).
	wrote sync.Map
}

func (r *CompanyReconciler) init() {
	r.once.Do(func() {
		if r.Now == nil {
			r.Now = time.Now
		}
		if r.Pacer == nil {
			r.Pacer = pacer.New(pacer.Config{Intervals: r.Intervals, Budget: r.Budget, Now: r.Now, Kind: "CodatCompany"})
		}
		r.Intervals = r.Pacer.Intervals()
	})
}

// +kubebuilder:rbac:groups=codat.io,resources=codatcompanies,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=codat.io,resources=codatcompanies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=codat.io,resources=codatcompanies/finalizers,verbs=update

// Reconcile brings one CodatCompany and its company in Codat together: it asks the pacer whether
// the look is due, runs the pass, and ends it.
func (r *CompanyReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	r.init()
	name := req.NamespacedName
	obj := &codatv1.CodatCompany{}
	err := readFresh(ctx, r.Client, r.APIReader, &r.wrote, name, obj)
	switch {
	case apierrors.IsNotFound(err):
		r.Pacer.Forget(name)
		r.wrote.Delete(name)
		return reconcile.Result{}, nil
	case err != nil:
		log.FromContext(ctx).Error(err, "reading the object")
		return requeue(r.Pacer.End(name, pacer.Outcome{Result: pacer.Failed, Working: true})), nil
	}
	if skip, next := r.Pacer.Begin(name, companyFacts(obj)); skip {
		return requeue(next), nil
	}
	p := &companyPass{r: r, obj: obj, before: *obj.Status.DeepCopy()}
	p.run(ctx)
	return r.end(ctx, p)
}

// companyFacts is what the cached object says of the look it needs.
func companyFacts(obj *codatv1.CodatCompany) pacer.Facts {
	paused, _ := companyPaused(obj)
	return pacer.Facts{
		Routine: companySettled(obj) && obj.DeletionTimestamp.IsZero() && !paused &&
			meta.IsStatusConditionTrue(obj.Status.Conditions, codatv1.ConditionSynced),
		Company: obj.Status.CompanyID,
	}
}

// companySettled says the object's current generation is realized: it has its company, its
// generation was seen, and no work is left over.
func companySettled(obj *codatv1.CodatCompany) bool {
	return obj.Status.CompanyID != "" && obj.Status.ObservedGeneration == obj.Generation &&
		!meta.IsStatusConditionTrue(obj.Status.Conditions, codatv1.ConditionReconciling)
}

func companyPaused(obj *codatv1.CodatCompany) (bool, string) {
	return pausedBy(&codatv1.CodatConnection{ObjectMeta: obj.ObjectMeta})
}

// end ends a pass as the connections' does: the pacer hears what it came to, the view goes to
// status (written only when it changed), a new failure is announced, the metrics count it.
func (r *CompanyReconciler) end(ctx context.Context, p *companyPass) (reconcile.Result, error) {
	name := types.NamespacedName{Namespace: p.obj.Namespace, Name: p.obj.Name}
	c := conclude(p.outcome)
	if c.unexpected != nil {
		log.FromContext(ctx).Error(c.unexpected, "reconcile failed")
	}
	next := r.Pacer.End(name, c.pacingOf(p.codat.key, p.obj.Status.CompanyID, "", p.before.Conditions, r.Now()))
	if c.result == pacer.Raced || c.result == pacer.Gone {
		return requeue(next), nil
	}
	previous := failureReason(p.before.Conditions)
	c.renderCompany(p.obj, next)
	e := effects{client: r.Client, recorder: r.Recorder, metrics: r.Metrics, pacer: r.Pacer, wrote: &r.wrote}
	e.announce(ctx, p.obj, c, previous, p.obj.Status.Conditions)
	changed := !equality.Semantic.DeepEqual(&p.before, &p.obj.Status)
	return requeue(e.write(ctx, p.obj, name, changed, next)), nil
}

// renderCompany is the view of a conclusion for a CodatCompany.
func (c conclusion) renderCompany(obj *codatv1.CodatCompany, next pacer.Next) {
	v := statusView{conds: &obj.Status.Conditions, generation: obj.Generation, observed: &obj.Status.ObservedGeneration,
		deleting: !obj.DeletionTimestamp.IsZero()}
	c.renderConditions(v, next)
	c.renderStalledInputs(&obj.Status.StalledInputs)
	obj.Status.DeletionPolicy = companyDeletionPolicy(obj)
}

// companyDeletionPolicy is the policy in effect: the spec's, else Orphan. Deleting a company in
// Codat deletes every connection and all the data Codat pulled for it, and cannot be undone: that
// takes an explicit Delete, whether the operator created the company or adopted it.
func companyDeletionPolicy(obj *codatv1.CodatCompany) codatv1.CompanyDeletionPolicy {
	if obj.Spec.DeletionPolicy != "" {
		return obj.Spec.DeletionPolicy
	}
	return codatv1.CompanyDeletionPolicyOrphan
}
