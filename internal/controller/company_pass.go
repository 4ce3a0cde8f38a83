package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/access"
	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// companyPass is one reconcile of one CodatCompany.
type companyPass struct {
	r      *CompanyReconciler
	obj    *codatv1.CodatCompany
	before codatv1.CodatCompanyStatus
	codat  companySession
	outcome
}

// companySession is Codat's company API under the object's credentials, with what messages and
// stalls need, and the namespace's company rules when the default credentials are used.
type companySession struct {
	Companies
	credentials, inputs, key string
	// allowed are the companies the namespace may manage with the default credentials; restricted
	// is false when it may manage any.
	allowed    access.Companies
	restricted bool
}

// run is one pass: paused, credentials, what the pacer allows, deletion, a stall nothing changed
// since, identity (the company in status, else adopt spec.companyId, else find an interrupted
// create, else create), what the namespace may manage, converge (put back name, description and
// tags), record.
func (p *companyPass) run(ctx context.Context) {
	obj := p.obj
	p.working = !companySettled(obj)
	if p.paused, p.pausedValue = companyPaused(obj); p.paused {
		return
	}
	codat, err := p.connect(ctx)
	p.codat = codat
	if err == nil {
		err = p.allowed()
	}
	if err == nil {
		err = unchangedSinceCompanyStall(obj, codat)
	}
	if !obj.DeletionTimestamp.IsZero() {
		if p.err = p.delete(ctx, err); p.err == nil {
			p.released = true
		}
		return
	}
	if p.err = err; err != nil {
		return
	}
	company, err := p.company(ctx)
	if p.err = err; err != nil {
		return
	}
	recordCompany(obj, company)
	if p.err = p.keepFinalizer(ctx); p.err != nil {
		return
	}
	if p.err = p.mayManage(company.ID, p.desired(company).Tags, company.Tags); p.err != nil {
		return
	}
	company, p.err = p.converge(ctx, company)
	if p.err != nil {
		return
	}
	recordCompany(obj, company)
	p.ready = ready(codatv1.ReasonCompanyApplied, "Codat's company holds the name, description and tags this object asks for")
}

// connect resolves the object's credentials (the same rules as a connection's) and binds Codat's
// company API to them.
func (p *companyPass) connect(ctx context.Context) (companySession, error) {
	r, obj := p.r, p.obj
	keys := keyring{cache: r.Client, apiReader: r.APIReader, defaults: r.Credentials}
	h := holder{namespace: obj.Namespace, ref: obj.Spec.CredentialsRef, working: p.working}
	key, ns, err := keys.resolve(ctx, h)
	if err != nil {
		return companySession{}, err
	}
	s := companySession{Companies: r.Codat.Companies(key), credentials: keys.source(h), inputs: companyInputs(obj, key), key: key.Fingerprint()}
	if ns != nil {
		if s.allowed, s.restricted, err = access.CompaniesOf(ns); err != nil {
			return companySession{}, stall(codatv1.ReasonCompanyNotAllowed, fmt.Sprintf("%v: ask the platform team to fix it", err))
		}
	}
	return s, nil
}

// allowed asks the pacer whether the pass may call Codat now.
func (p *companyPass) allowed() error {
	hold, wait := p.r.Pacer.Allow(nameOfCompany(p.obj), p.codat.key, companySettled(p.obj) && p.obj.DeletionTimestamp.IsZero())
	return heldBy(hold, wait, p.working)
}

// company finds or makes the company the object manages: the one in status, else the one
// spec.companyId adopts, else the one an earlier interrupted create made, else a new one.
func (p *companyPass) company(ctx context.Context) (*codatclient.Company, error) {
	obj := p.obj
	switch known, adopted := obj.Status.CompanyID, obj.Spec.CompanyID; {
	case known != "" && adopted != "" && !strings.EqualFold(known, adopted):
		// Admission refuses this; objects written before that rule could get here.
		return nil, stall(codatv1.ReasonCompanyIDConflict, fmt.Sprintf(
			"spec.companyId %s is not the company this object manages (status.companyId %s); an object never switches companies. Create another object for %s",
			adopted, known, adopted))
	case known != "":
		return p.known(ctx, known)
	case adopted != "":
		return p.adopt(ctx, adopted)
	case createPending(&codatv1.CodatConnection{ObjectMeta: obj.ObjectMeta}):
		return p.recoverCreate(ctx)
	default:
		return p.create(ctx)
	}
}

// known reads the company the object manages. One deleted in Codat outside the operator is
// created anew when the operator made it (the object declares a company), and left Stalled when
// it was adopted (the object asked for that company, not any).
func (p *companyPass) known(ctx context.Context, id string) (*codatclient.Company, error) {
	company, err := p.codat.Get(ctx, id)
	switch {
	case codatclient.IsNotFound(err) && p.obj.Spec.CompanyID != "":
		return nil, stall(codatv1.ReasonCompanyNotFound, fmt.Sprintf(
			"Company %s (spec.companyId) no longer exists in Codat. The operator does not replace an adopted company: delete this object, and create one without spec.companyId to create a new company",
			id))
	case codatclient.IsNotFound(err):
		p.event(ctx, eventWarning, "RemoteDeleted", "Company %s was deleted in Codat outside the operator, with its connections; creating a new one", id)
		p.obj.Status = codatv1.CodatCompanyStatus{Conditions: p.obj.Status.Conditions, ObservedGeneration: p.obj.Status.ObservedGeneration}
		return p.create(ctx)
	case err != nil:
		return nil, p.failed(ctx, codatapi.OpGetCompany, err)
	}
	return company, nil
}

// adopt takes over the existing company spec.companyId names, once no other CodatCompany manages
// it.
func (p *companyPass) adopt(ctx context.Context, id string) (*codatclient.Company, error) {
	if owner, err := p.ownerOf(ctx, id); err != nil {
		return nil, retry(codatv1.ReasonProgressing, "Listing CodatCompanies failed; retrying", true)
	} else if owner != "" {
		return nil, stall(codatv1.ReasonAlreadyOwned, fmt.Sprintf(
			"Company %s is already managed by CodatCompany %s; two objects never manage one company. Delete this object, or that one first",
			id, owner))
	}
	company, err := p.codat.Get(ctx, id)
	switch {
	case codatclient.IsNotFound(err):
		return nil, stall(codatv1.ReasonCompanyNotFound, fmt.Sprintf(
			"Codat has no company %s (spec.companyId); check the id. It cannot be changed: delete this object and create it again", id))
	case err != nil:
		return nil, p.failed(ctx, codatapi.OpGetCompany, err)
	}
	if err := p.mayManage(company.ID, nil, company.Tags); err != nil {
		return nil, err
	}
	p.event(ctx, eventNormal, "Adopted", "Adopted company %s (%s)", company.ID, company.Name)
	return company, nil
}

// ownerOf names the other CodatCompany that manages the company, if any, asking the API server:
// a status written a moment ago by another worker must count.
func (p *companyPass) ownerOf(ctx context.Context, id string) (string, error) {
	var list codatv1.CodatCompanyList
	if err := p.r.APIReader.List(ctx, &list, client.MatchingFields{fieldCompanyID: id}); err != nil {
		return "", err
	}
	for _, o := range list.Items {
		if o.UID != p.obj.UID {
			return o.Namespace + "/" + o.Name, nil
		}
	}
	return "", nil
}

// create makes a new company without ever making two: one optimistic write records the
// create-pending marker (and the finalizer, with deletionPolicy Delete) before the POST, and the
// company carries the object's UID in the tag codat-operator-uid from its first moment, so a pass
// that finds the marker but no id finds the company by that tag instead of posting again.
func (p *companyPass) create(ctx context.Context) (*codatclient.Company, error) {
	desired := p.desired(nil)
	if err := p.mayManage("", desired.Tags, nil); err != nil {
		return nil, err
	}
	obj := p.obj
	if obj.Annotations == nil {
		obj.Annotations = map[string]string{}
	}
	obj.Annotations[codatv1.AnnotationCreatePending] = p.r.Now().UTC().Format(time.RFC3339Nano)
	if companyDeletionPolicy(obj) == codatv1.CompanyDeletionPolicyDelete {
		controllerutil.AddFinalizer(obj, codatv1.CompanyFinalizer)
	}
	if err := p.writeMetadata(ctx); err != nil {
		return nil, err
	}
	return p.post(ctx, desired)
}

func (p *companyPass) post(ctx context.Context, desired codatclient.CompanyRequest) (*codatclient.Company, error) {
	company, err := p.codat.Create(ctx, desired)
	if err != nil {
		// The marker stays: a lost answer may hide a company Codat made; the next pass looks for it.
		return nil, p.failed(ctx, codatapi.OpCreateCompany, err)
	}
	p.event(ctx, eventNormal, "Created", "Created company %s (%s) in Codat", company.ID, company.Name)
	return company, nil
}

// recoverCreate runs when an earlier pass marked a create as pending but recorded no id: it takes
// the one company that carries the object's UID, or creates.
func (p *companyPass) recoverCreate(ctx context.Context) (*codatclient.Company, error) {
	candidates, err := p.createdByThisObject(ctx)
	if err != nil {
		return nil, err
	}
	switch len(candidates) {
	case 0:
		desired := p.desired(nil)
		if err := p.mayManage("", desired.Tags, nil); err != nil {
			return nil, err
		}
		return p.post(ctx, desired)
	case 1:
		p.event(ctx, eventNormal, "Created", "Recovered company %s (%s), created in Codat by an interrupted earlier attempt", candidates[0].ID, candidates[0].Name)
		return &candidates[0], nil
	default:
		ids := make([]string, len(candidates))
		for i, c := range candidates {
			ids[i] = c.ID
		}
		return nil, stall(codatv1.ReasonAmbiguousCreate, fmt.Sprintf(
			"Codat holds %d companies tagged %s=%s (this object's): %s. Set spec.companyId to the one to keep, and delete the others in Codat",
			len(candidates), codatv1.CompanyTagUID, p.obj.UID, strings.Join(ids, ", ")))
	}
}

// createdByThisObject lists the companies that carry the object's UID in the operator's tag.
func (p *companyPass) createdByThisObject(ctx context.Context) ([]codatclient.Company, error) {
	uid := string(p.obj.UID)
	all, err := p.codat.List(ctx, codatclient.CompanyTagFilter(codatv1.CompanyTagUID, uid))
	if err != nil {
		return nil, p.failed(ctx, codatapi.OpListCompanies, err)
	}
	var found []codatclient.Company
	for _, c := range all {
		// Codat's filter is trusted only as far as the tag that comes back.
		if c.Tags[codatv1.CompanyTagUID] == uid {
			found = append(found, c)
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].ID < found[j].ID })
	return found, nil
}

// desired is the company the spec asks for: its name always; its description and tags when set,
// else what Codat holds (an adopted company keeps what the platform team put there); and the
// operator's own tag wherever the company carries it (always, on a company it creates).
func (p *companyPass) desired(company *codatclient.Company) codatclient.CompanyRequest {
	spec := p.obj.Spec
	req := codatclient.CompanyRequest{Name: spec.Name}
	switch {
	case spec.Description != nil:
		req.Description = *spec.Description
	case company != nil:
		req.Description = company.Description
	}
	switch {
	case spec.Tags != nil:
		req.Tags = maps.Clone(spec.Tags)
	case company != nil:
		req.Tags = maps.Clone(company.Tags)
	}
	if company == nil || company.Tags[codatv1.CompanyTagUID] != "" {
		if req.Tags == nil {
			req.Tags = map[string]string{}
		}
		req.Tags[codatv1.CompanyTagUID] = string(p.obj.UID)
		if company != nil {
			req.Tags[codatv1.CompanyTagUID] = company.Tags[codatv1.CompanyTagUID]
		}
	}
	return req
}

// converge puts back what differs between Codat's company and the spec, in one replace-company:
// once after a change of the spec, and whenever someone changed the company in Codat (an event
// says so).
func (p *companyPass) converge(ctx context.Context, company *codatclient.Company) (*codatclient.Company, error) {
	desired := p.desired(company)
	if holds(company, desired) {
		p.obj.Status.AppliedHash = specHash(p.obj)
		return company, nil
	}
	replaced, err := p.codat.Replace(ctx, company.ID, desired)
	if err != nil {
		return company, p.failed(ctx, codatapi.OpReplaceCompany, err)
	}
	if applied := specHash(p.obj); applied == p.obj.Status.AppliedHash {
		p.event(ctx, eventWarning, "ChangedInCodat",
			"The name, description or tags of company %s were changed in Codat outside the operator; put back as spec says", company.ID)
	} else {
		p.event(ctx, eventNormal, "Updated", "Applied the name, description and tags of company %s", company.ID)
		p.obj.Status.AppliedHash = applied
	}
	return replaced, nil
}

// holds says whether Codat's company has the name, description and tags desired.
func holds(company *codatclient.Company, desired codatclient.CompanyRequest) bool {
	return company.Name == desired.Name && company.Description == desired.Description &&
		maps.Equal(nonNil(company.Tags), nonNil(desired.Tags))
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// specHash is the SHA-256 of what the spec asks of the company: a spec whose hash differs from
// status.appliedHash has changes to apply, and a difference in Codat with the same hash was made
// outside the operator.
func specHash(obj *codatv1.CodatCompany) string {
	raw, _ := json.Marshal(struct { // strings and a string map always encode
		Name        string            `json:"name"`
		Description *string           `json:"description"`
		Tags        map[string]string `json:"tags"`
	}{obj.Spec.Name, obj.Spec.Description, obj.Spec.Tags})
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// mayManage refuses, before any write, a company the namespace may not manage with the default
// credentials: one not allowed by id must carry an allowed tag, in what the operator would write
// (desired) or, for an adopted company left as it is, in what Codat holds.
func (p *companyPass) mayManage(id string, desired, current map[string]string) error {
	allowed := p.codat.allowed
	if !p.codat.restricted || (id != "" && allowed.AllowsID(id)) {
		return nil
	}
	tags := desired
	if tags == nil {
		tags = current
	}
	if len(allowed.Tags) > 0 && allowed.AllowsTags(tags) {
		return nil
	}
	what := "a new company"
	if id != "" {
		what = "company " + id
	}
	return stall(codatv1.ReasonCompanyNotAllowed, fmt.Sprintf(
		"Namespace %s may not manage %s with the operator's default credentials: it may manage %s (annotations %s and %s of the namespace). Give the company one of those tags in spec.tags, ask the platform team, %s",
		p.obj.Namespace, what, allowed.Describe(), access.AnnotationCompanies, access.AnnotationCompanyTags, ownCredentialsHint))
}

// recordCompany writes what Codat reports about the company into status.
func recordCompany(obj *codatv1.CodatCompany, c *codatclient.Company) {
	s := &obj.Status
	s.CompanyID, s.Redirect, s.Created, s.LastSync = c.ID, c.Redirect, c.Created, c.LastSync
}

// delete does what the deletion policy asks: Orphan leaves the company; Delete deletes it in
// Codat, once no CodatConnection in the cluster uses it (they go first: their own deletion needs
// the company), then the finalizer goes. connectErr is what resolving the credentials said: only
// Orphan can finish without them.
func (p *companyPass) delete(ctx context.Context, connectErr error) error {
	obj := p.obj
	if !controllerutil.ContainsFinalizer(obj, codatv1.CompanyFinalizer) {
		return nil
	}
	if companyDeletionPolicy(obj) == codatv1.CompanyDeletionPolicyDelete {
		var blocked *stallError
		switch {
		case errors.As(connectErr, &blocked):
			return stall(codatv1.ReasonDeletionBlocked, blocked.message+
				". Deleting this object needs them to delete the company in Codat: restore them, or set spec.deletionPolicy: Orphan to leave the company in Codat and let the object go")
		case connectErr != nil:
			return connectErr
		}
		if err := p.deleteInCodat(ctx); err != nil {
			return err
		}
	}
	controllerutil.RemoveFinalizer(obj, codatv1.CompanyFinalizer)
	return p.writeMetadata(ctx)
}

func (p *companyPass) deleteInCodat(ctx context.Context) error {
	id := p.obj.Status.CompanyID
	if id == "" && createPending(&codatv1.CodatConnection{ObjectMeta: p.obj.ObjectMeta}) {
		candidates, err := p.createdByThisObject(ctx)
		if err != nil {
			return err
		}
		if len(candidates) > 1 {
			return stall(codatv1.ReasonDeletionBlocked, fmt.Sprintf(
				"Codat holds %d companies that an interrupted create may have made for this object; delete the unwanted ones in Codat, then set spec.deletionPolicy: Orphan", len(candidates)))
		}
		if len(candidates) == 1 {
			id = candidates[0].ID
		}
	}
	if id == "" {
		return nil
	}
	if users, err := p.connectionsUsing(ctx, id); err != nil {
		return retry(codatv1.ReasonProgressing, "Listing CodatConnections failed; retrying", true)
	} else if len(users) > 0 {
		return wait(codatv1.ReasonCompanyInUse, fmt.Sprintf(
			"Deleting company %s in Codat waits for the CodatConnections that use it to go first: %s. Delete them, or set spec.deletionPolicy: Orphan to leave the company in Codat",
			id, describeObjects(users)))
	}
	if err := p.codat.Delete(ctx, id); err != nil && !codatclient.IsNotFound(err) {
		return p.failed(ctx, codatapi.OpDeleteCompany, err)
	}
	p.event(ctx, eventNormal, "Deleted", "Deleted company %s in Codat, with its connections", id)
	return nil
}

// connectionsUsing names the CodatConnections of the cluster that belong to the company.
func (p *companyPass) connectionsUsing(ctx context.Context, id string) ([]string, error) {
	var list codatv1.CodatConnectionList
	if err := p.r.Client.List(ctx, &list, client.MatchingFields{indexCompanyOf: strings.ToLower(id)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list.Items))
	for i := range list.Items {
		names = append(names, list.Items[i].Namespace+"/"+list.Items[i].Name)
	}
	slices.Sort(names)
	return names, nil
}

// describeObjects names a few objects, and how many more there are.
func describeObjects(names []string) string {
	const shown = 5
	if len(names) <= shown {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:shown], ", "), len(names)-shown)
}

// keepFinalizer gives the object the finalizer when deleting it has work to do in Codat
// (deletionPolicy Delete), and takes it away when it has none.
func (p *companyPass) keepFinalizer(ctx context.Context) error {
	want := companyDeletionPolicy(p.obj) == codatv1.CompanyDeletionPolicyDelete
	if want == controllerutil.ContainsFinalizer(p.obj, codatv1.CompanyFinalizer) {
		return nil
	}
	if want {
		controllerutil.AddFinalizer(p.obj, codatv1.CompanyFinalizer)
	} else {
		controllerutil.RemoveFinalizer(p.obj, codatv1.CompanyFinalizer)
	}
	return p.writeMetadata(ctx)
}

// writeMetadata writes the object's metadata with optimistic concurrency, keeping the status in
// memory; a conflict ends the pass (errRaced).
func (p *companyPass) writeMetadata(ctx context.Context) error {
	status := p.obj.Status.DeepCopy()
	err := p.r.Client.Update(ctx, p.obj)
	p.obj.Status = *status
	if err == nil {
		p.r.wrote.Store(nameOfCompany(p.obj), p.obj.ResourceVersion)
	}
	return metadataWritten(ctx, err)
}

// failed turns a failed Codat call into the error that stops the pass. Codat documents no meaning
// for a 404 of list-companies or create-company: Codat refused the request.
func (p *companyPass) failed(ctx context.Context, op string, err error) error {
	var cerr *codatclient.Error
	if errors.As(err, &cerr) && cerr.StatusCode == http.StatusNotFound && (op == codatapi.OpListCompanies || op == codatapi.OpCreateCompany) {
		cerr = &codatclient.Error{Operation: cerr.Operation, Kind: cerr.Kind, StatusCode: http.StatusBadRequest, Message: cerr.Message}
		err = cerr
	}
	return failedCall(ctx, op, err, p.working, p.obj.Status.CompanyID, p.codat.credentials, p.codat.inputs)
}

func (p *companyPass) event(ctx context.Context, eventType, reason, note string, args ...any) {
	emit(ctx, p.r.Recorder, p.obj, eventType, reason, note, args...)
}

// unchangedSinceCompanyStall keeps a stall that Codat's refusal caused while the inputs of the
// refused request are the same (see unchangedSinceStall).
func unchangedSinceCompanyStall(obj *codatv1.CodatCompany, codat companySession) error {
	if obj.Status.StalledInputs == "" || obj.Status.StalledInputs != codat.inputs {
		return nil
	}
	c := failureOf(obj.Status.Conditions)
	if c == nil || c.Type != codatv1.ConditionStalled {
		return nil
	}
	return &stallError{reason: c.Reason, message: c.Message, fromCodat: true, inputs: codat.inputs}
}

// companyInputs digests what the pass's requests are made with: the spec (its generation), the
// user's request to reconcile, deletion and the API key (through a hash).
func companyInputs(obj *codatv1.CodatCompany, key codatclient.APIKey) string {
	h := sha256.New()
	fmt.Fprintf(h, "generation=%d\nrequested=%s\ndeleting=%t\nkey=%s\n", obj.Generation,
		obj.Annotations[codatv1.AnnotationReconcileRequestedAt], !obj.DeletionTimestamp.IsZero(), key.Digest())
	return hex.EncodeToString(h.Sum(nil))
}

func nameOfCompany(obj *codatv1.CodatCompany) types.NamespacedName {
	return types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name}
}
