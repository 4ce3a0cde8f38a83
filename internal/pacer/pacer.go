// Package pacer decides, for every object, when it calls Codat: whether a pass may call Codat now
// (Codat's Retry-After, its rate-limit webhooks, the request budget, a poll not yet due), when the
// object looks again and how urgently (waiting for the business, settled, the safety net while
// webhooks flow, stretched by the budget, spread after a start, backing off after failures), and
// whether news from Codat's webhooks needs a look at all.
//
// A pass asks the pacer at its start (Begin, then Allow once it knows its API key) and tells it at
// its end what happened (End), which answers when to look again. Everything else that moves a
// look (a user's change, a webhook, a change of the budget's plan or of the receiver's health)
// comes through Wake, Heard and the pacer's own rescheduling, so one file holds every rule.
package pacer

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/codat-operator/codat-operator/internal/budget"
)

// Intervals tune when objects look at Codat again.
type Intervals struct {
	// PendingAuth is the first poll interval of a connection that waits for the business; it grows
	// with the time waited, up to Settled.
	PendingAuth time.Duration
	// Settled is the poll interval of a connection in its desired state.
	Settled time.Duration
	// BackoffBase and BackoffMax bound the per-object exponential backoff after transient failures.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// SafetyNet is the poll interval of settled and waiting connections while the webhook receiver
	// is healthy: webhooks bring the news, and polling only catches what a lost webhook missed.
	SafetyNet time.Duration
}

// DefaultIntervals are the intervals the manager's flags default to.
var DefaultIntervals = Intervals{
	PendingAuth: time.Minute,
	Settled:     10 * time.Minute,
	BackoffBase: time.Second,
	BackoffMax:  5 * time.Minute,
	SafetyNet:   6 * time.Hour,
}

// withDefaults replaces zero intervals, which would poll or retry in a hot loop, by the defaults.
func (i Intervals) withDefaults() Intervals {
	for _, f := range []struct{ v, d *time.Duration }{
		{&i.PendingAuth, &DefaultIntervals.PendingAuth}, {&i.Settled, &DefaultIntervals.Settled},
		{&i.BackoffBase, &DefaultIntervals.BackoffBase}, {&i.BackoffMax, &DefaultIntervals.BackoffMax},
		{&i.SafetyNet, &DefaultIntervals.SafetyNet},
	} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	return i
}

// MaxWait bounds how long one answer of Codat keeps objects away from it (a Retry-After, a
// rate-limit webhook's expiry): Codat's daily quota resets within a day, and a longer wait is more
// likely a broken value than advice.
const MaxWait = 24 * time.Hour

// Urgency says how soon, against other objects, a look goes.
type Urgency int

const (
	// Poll is a routine look: after all other work.
	Poll Urgency = iota
	// Work is what a user asked for (a change, a create, a deletion) or a retry of it.
	Work
	// Event is a look that Codat's webhook asked for: someone is waiting for it, so it goes first.
	Event
)

// Priority is the urgency's priority in the controller's work queue.
func (u Urgency) Priority() int {
	switch u {
	case Event:
		return 100
	case Work:
		return 0
	default:
		return -10
	}
}

// Hold says why an object may not call Codat now.
type Hold int

const (
	// Free means nothing holds it.
	Free Hold = iota
	// RetryAfter means Codat's Retry-After for the object (a 429, or a 503 for maintenance).
	RetryAfter
	// QuotaReached means Codat's client.rateLimit.reached webhook said the daily quota is used up.
	QuotaReached
	// QuotaLow means the request budget lets only writes out; a poll waits for the quota's reset.
	QuotaLow
)

// Queue is the controller's work queue, as the pacer uses it.
type Queue interface {
	// Look asks for a pass of the object after the delay, with the urgency. A look already asked
	// for earlier is not moved later.
	Look(name types.NamespacedName, after time.Duration, u Urgency)
}

// Config is what a Pacer is built from.
type Config struct {
	Intervals Intervals
	// Budget, when set, keeps polls within the operator's share of each key's daily quota.
	Budget *budget.Budget
	// Now is the clock (default time.Now); Rand draws in [0, 1) (default math/rand/v2).
	Now  func() time.Time
	Rand func() float64
	// Kind names the objects' kind to the budget, which the pacers of both kinds share: a
	// CodatCompany and a CodatConnection may have the same name.
	Kind string
}

// Pacer holds what every object's next look depends on. Safe for concurrent use.
type Pacer struct {
	kind      string
	intervals Intervals
	budget    *budget.Budget
	now       func() time.Time
	rand      func() float64

	mu      sync.Mutex
	queue   Queue
	objects map[types.NamespacedName]*object
	// byConnection finds objects by the connection their passes concluded they manage: the cache
	// may not show a new connection's id yet when Codat's webhook about it arrives.
	byConnection map[string]types.NamespacedName
	// released remembers connections the operator deleted, whose deletion webhook is its own echo.
	released recent
	// quotaUntil is when Codat's used-up daily quota resets (zero: not used up).
	quotaUntil time.Time
	// safetyNet says polling is only the safety net: the webhook receiver is healthy.
	safetyNet bool

	// replans holds the keys whose budget plan changed, for Start to reschedule.
	replansMu sync.Mutex
	replans   map[string]struct{}
	replanned chan struct{}
}

// object is what the pacer knows of one object.
type object struct {
	key          string // fingerprint of the API key of its last pass
	company      string
	connection   string // the connection its last pass concluded it manages
	concluded    string // Codat's status of it, as that pass concluded
	waiting      bool   // waiting for someone outside (the business)
	waitingSince time.Time

	lastLook time.Time // when its last realized pass ended
	due      time.Time // when its next poll is due; zero: none planned
	hold     Hold      // what holds its next look, if anything
	failures int       // transient failures in a row
	// notBefore is when Codat's Retry-After lets it call again: every look waits for it,
	// whatever brings the object back early.
	notBefore time.Time

	woken    bool   // something asked for a look (a change, a webhook) since its last pass began
	inflight bool   // a pass runs
	heard    []News // news heard while it ran

	// jitter and spread are the object's own draws in [0, 1): a change of plan recomputes its
	// schedule without drawing anew, so nothing moves that need not.
	jitter, spread float64
}

// New returns a Pacer. It hears of the budget's plan changes.
func New(c Config) *Pacer {
	p := &Pacer{
		kind: c.Kind, intervals: c.Intervals.withDefaults(), budget: c.Budget, now: c.Now, rand: c.Rand,
		objects: map[types.NamespacedName]*object{}, byConnection: map[string]types.NamespacedName{},
		released: recent{capacity: 10000},
		replans:  map[string]struct{}{}, replanned: make(chan struct{}, 1),
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.rand == nil {
		p.rand = rand.Float64
	}
	if p.budget != nil {
		// A pass may hold the pacer's lock while it asks the budget, which tells its subscribers
		// right then: the replan runs in Start.
		p.budget.Subscribe(func(key string, _ budget.Plan) {
			p.replansMu.Lock()
			p.replans[key] = struct{}{}
			p.replansMu.Unlock()
			select {
			case p.replanned <- struct{}{}:
			default:
			}
		})
	}
	return p
}

// Start reschedules the polls of the keys whose budget plan changed, until ctx ends. The manager
// runs it on the leader, whose queue the polls are in.
func (p *Pacer) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.replanned:
		}
		p.replansMu.Lock()
		keys := p.replans
		p.replans = map[string]struct{}{}
		p.replansMu.Unlock()
		for key := range keys {
			p.replan(key)
		}
	}
}

// NeedLeaderElection is true: only the leader has a queue to move polls in.
func (p *Pacer) NeedLeaderElection() bool { return true }

// Intervals are the intervals in effect (zero values replaced by the defaults).
func (p *Pacer) Intervals() Intervals { return p.intervals }

// SetQueue gives the pacer the controller's work queue, for the looks it asks for itself.
func (p *Pacer) SetQueue(q Queue) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue = q
}

// budgetName is the object's name in the budget.
func (p *Pacer) budgetName(name types.NamespacedName) string {
	if p.kind == "" {
		return name.String()
	}
	return p.kind + ":" + name.String()
}

func (p *Pacer) objectLocked(name types.NamespacedName) *object {
	o := p.objects[name]
	if o == nil {
		o = &object{jitter: p.rand(), spread: p.rand()}
		p.objects[name] = o
	}
	return o
}

// look asks the queue for a pass; called without the lock.
func (p *Pacer) look(q Queue, name types.NamespacedName, after time.Duration, u Urgency) {
	if q != nil {
		q.Look(name, after, u)
	}
}

// Wake asks for a look at the object now: a user changed it, or something it reads changed.
func (p *Pacer) Wake(name types.NamespacedName, u Urgency) {
	p.mu.Lock()
	p.objectLocked(name).woken = true
	q := p.queue
	p.mu.Unlock()
	p.look(q, name, 0, u)
}

// Forget drops what the pacer knows of an object that no longer exists.
func (p *Pacer) Forget(name types.NamespacedName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forgetLocked(name)
}

func (p *Pacer) forgetLocked(name types.NamespacedName) {
	if o := p.objects[name]; o != nil && p.byConnection[o.connection] == name {
		delete(p.byConnection, o.connection)
	}
	delete(p.objects, name)
	if p.budget != nil {
		p.budget.Forget(p.budgetName(name))
	}
}

// Facts are what the object's cached copy says about the look it needs.
type Facts struct {
	// Routine: nothing but a poll to do (its connection is realized and in sync, nothing is being
	// changed, deleted or paused).
	Routine bool
	// Waiting for someone outside (the business), since WaitingSince.
	Waiting      bool
	WaitingSince time.Time
	Company      string
	Connection   string
}

// Begin is asked at the start of a pass. It says to skip the pass (and look again as next says)
// when it is a routine look whose poll is not due: a look asked for before a
// change of plan moved the poll later, or the first look after a start, which spreads the polls
// of settled objects over their interval instead of making them all at once.
func (p *Pacer) Begin(name types.NamespacedName, f Facts) (skip bool, next Next) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	o := p.objectLocked(name)
	woken := o.woken
	o.woken = false
	o.company = f.Company
	if f.Connection != "" && o.connection == "" {
		o.connection = f.Connection
		p.byConnection[f.Connection] = name
	}
	if f.Routine && !woken {
		if o.due.IsZero() {
			o.waiting, o.waitingSince = f.Waiting, f.WaitingSince
			interval, _ := p.intervalLocked(o, now)
			o.due = now.Add(time.Duration(o.spread*float64(interval)) + 1)
		}
		if o.due.After(now) {
			return true, Next{Requeue: true, After: o.due.Sub(now), Urgency: Poll}
		}
	}
	o.inflight, o.heard = true, nil
	return false, Next{}
}

// Allow says whether the object's pass, with the API key, may call Codat now, and else what holds
// it and for how long. poll says the calls would be a routine poll, which the budget holds back when only
// writes may go out.
func (p *Pacer) Allow(name types.NamespacedName, key string, poll bool) (Hold, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if wait := p.quotaUntil.Sub(now); wait > 0 {
		return QuotaReached, wait
	}
	o := p.objectLocked(name)
	if wait := o.notBefore.Sub(now); wait > 0 {
		return RetryAfter, wait
	}
	if poll && p.budget != nil {
		if plan := p.budget.PlanFor(key); plan.Mode == budget.WritesOnly {
			return QuotaLow, max(plan.Reset.Sub(now), 0) + time.Duration(o.spread*float64(p.intervals.Settled)) + 1
		}
	}
	return Free, 0
}

// Result is what a pass came to, as far as pacing goes.
type Result int

const (
	// Realized means the pass saw Codat's connection, in the desired state or waiting for someone
	// outside; the object polls from here.
	Realized Result = iota
	// Failed means a transient failure; tried again after a backoff or Codat's Retry-After.
	Failed
	// Held means Allow held the pass; it comes back when the hold ends.
	Held
	// Blocked means only a person can unblock it (Stalled); no look until something changes.
	Blocked
	// Paused means the user paused the object; no look until the pause ends.
	Paused
	// Gone means the object released its connection and is being removed.
	Gone
	// Raced means a write lost a race with a newer version of the object; it goes again soon.
	Raced
)

// Outcome is what a pass tells the pacer at its end.
type Outcome struct {
	Result Result
	// Key is the fingerprint of the API key the pass used: whose quota the next poll spends.
	Key string
	// Waiting for someone outside since WaitingSince (Realized).
	Waiting      bool
	WaitingSince time.Time
	// Connection and Status are Codat's connection as the pass last saw it, if it did.
	Connection, Status string
	// Working says a failure stopped work a user asked for (Failed, Held): its retry is work, not a poll.
	Working bool
	// RetryAfter is Codat's Retry-After (Failed); Throttled says Codat answered 429, whose wait,
	// with or without a Retry-After, holds every look of the object.
	RetryAfter time.Duration
	Throttled  bool
	// Hold and HoldFor are what Allow answered (Held).
	Hold    Hold
	HoldFor time.Duration
}

// Next is when an object looks again, and what the view says of its polls.
type Next struct {
	// Requeue says there is a next look, After from now, with the urgency.
	Requeue bool
	After   time.Duration
	Urgency Urgency
	// Mode is how the budget shapes its polls: normal, stretched, or waiting for the reset.
	Mode budget.Mode
	// Again says news heard while the pass ran asked for another look at once.
	Again bool
}

// End is told what a pass came to and says when the object looks again. News heard while the
// pass ran that the pass may not have seen asks for another look at once.
func (p *Pacer) End(name types.NamespacedName, out Outcome) Next {
	p.mu.Lock()
	now := p.now()
	o := p.objectLocked(name)
	heard := o.heard
	o.inflight, o.heard = false, nil
	if out.Connection != "" {
		p.connectionLocked(name, o, out.Connection, out.Status)
	}
	if out.Key != "" {
		o.key = out.Key
	}
	var next Next
	switch out.Result {
	case Gone:
		if o.connection != "" {
			p.released.add(o.connection)
		}
		p.forgetLocked(name)
		p.mu.Unlock()
		return Next{}
	case Blocked, Paused:
		o.due, o.hold, o.failures = time.Time{}, Free, 0
		if p.budget != nil {
			p.budget.Forget(p.budgetName(name))
		}
	case Raced:
		next = Next{Requeue: true, After: p.intervals.BackoffBase, Urgency: Work}
	case Held:
		o.hold, o.due = out.Hold, now.Add(out.HoldFor)
		next = Next{Requeue: true, After: out.HoldFor, Urgency: urgency(out.Working)}
		if out.Hold == QuotaLow {
			next.Mode = budget.WritesOnly
		}
	case Failed:
		next = p.failedLocked(o, out, now)
	case Realized:
		o.failures, o.hold, o.lastLook = 0, Free, now
		o.waiting, o.waitingSince = out.Waiting, out.WaitingSince
		p.trackLocked(name, o, now)
		interval, mode := p.intervalLocked(o, now)
		o.due = now.Add(interval)
		next = Next{Requeue: true, After: interval, Urgency: Poll, Mode: mode}
	}
	next.Again = out.Result == Realized && o.missed(heard)
	o.woken = o.woken || next.Again
	q := p.queue
	p.mu.Unlock()
	if next.Again {
		p.look(q, name, 0, Event)
	}
	return next
}

func urgency(working bool) Urgency {
	if working {
		return Work
	}
	return Poll
}

// failedLocked backs off: Codat's Retry-After when it gave one, else exponentially from
// BackoffBase per failure in a row, up to BackoffMax. Codat's wait holds every look of the object
// until it ends, whatever brings it back early (a 429 without Retry-After waits the backoff).
func (p *Pacer) failedLocked(o *object, out Outcome, now time.Time) Next {
	o.failures++
	wait := min(out.RetryAfter, MaxWait)
	if wait <= 0 {
		wait = p.backoff(o.failures)
	}
	if out.RetryAfter > 0 || out.Throttled {
		o.notBefore = now.Add(wait)
	}
	o.due = now.Add(wait)
	return Next{Requeue: true, After: wait, Urgency: urgency(out.Working)}
}

// backoff is the wait after the n-th transient failure in a row.
func (p *Pacer) backoff(n int) time.Duration {
	wait := p.intervals.BackoffBase
	for i := 1; i < n && wait < p.intervals.BackoffMax; i++ {
		wait *= 2
	}
	return min(wait, p.intervals.BackoffMax)
}

// connectionLocked records the connection an object manages and Codat's status of it.
func (p *Pacer) connectionLocked(name types.NamespacedName, o *object, connection, status string) {
	if o.connection != connection {
		if p.byConnection[o.connection] == name {
			delete(p.byConnection, o.connection)
		}
		o.connection = connection
	}
	p.byConnection[connection] = name
	o.concluded = status
}

// intervalLocked is the object's poll interval from now: the safety net while webhooks flow; for a
// connection waiting for the business, half the time waited, from PendingAuth up to Settled; else
// Settled. The budget stretches it, or holds it until the quota's reset; jitter of up to a tenth
// keeps objects created together from polling together forever.
func (p *Pacer) intervalLocked(o *object, now time.Time) (time.Duration, budget.Mode) {
	class, interval := budget.Settled, p.steadyInterval()
	if !p.safetyNet && o.waiting {
		if grown := p.waitingInterval(now.Sub(o.waitingSince)); grown < interval {
			class, interval = budget.Waiting, grown
		}
	}
	mode := budget.Normal
	if p.budget != nil && o.key != "" {
		plan := p.budget.PlanFor(o.key)
		if plan.Mode == budget.WritesOnly {
			return max(plan.Reset.Sub(now), 0) + time.Duration(o.spread*float64(p.intervals.Settled)) + 1, budget.WritesOnly
		}
		interval, mode = p.budget.Interval(o.key, class, interval)
	}
	return interval + time.Duration(o.jitter*float64(interval)/10), mode
}

// steadyInterval is the interval of polls that no longer speed up for a waiting business.
func (p *Pacer) steadyInterval() time.Duration {
	if p.safetyNet {
		return p.intervals.SafetyNet
	}
	return p.intervals.Settled
}

// waitingInterval is the poll interval of a connection that has waited so long for the business.
func (p *Pacer) waitingInterval(waited time.Duration) time.Duration {
	return max(p.intervals.PendingAuth, min(waited/2, p.intervals.Settled))
}

// trackLocked tells the budget what the object will ask of its key's quota: its steady polls, and
// the early polls a connection that just started waiting makes beyond them.
func (p *Pacer) trackLocked(name types.NamespacedName, o *object, now time.Time) {
	if p.budget == nil || o.key == "" {
		return
	}
	d := budget.Demand{Every: p.steadyInterval()}
	if !p.safetyNet && o.waiting {
		d.Extra = p.earlyPolls(now.Sub(o.waitingSince))
	}
	p.budget.Track(p.budgetName(name), o.key, d)
}

// earlyPolls counts the polls of a connection that has waited so long, until its interval stops
// growing, beyond one every Settled over that time.
func (p *Pacer) earlyPolls(waited time.Duration) float64 {
	polls, w := 0.0, waited
	for range 64 { // the interval grows by half each poll: a few dozen steps at most
		interval := p.waitingInterval(w)
		if interval >= p.intervals.Settled {
			break
		}
		polls++
		w += interval
	}
	return max(0, polls-(w-waited).Seconds()/p.intervals.Settled.Seconds())
}

// News is what a verified webhook says of a connection.
type News struct {
	Connection, Status string
	// Deleted: Codat deleted the connection. Failed: an attempt to link it failed, which leaves its
	// status as it was. Either needs a look whatever the status, unless the operator itself
	// deleted the connection.
	Deleted, Failed bool
}

// Heard takes news about an object's connection; shown is the status the object's cached copy
// shows. The object looks again, with the urgency Event, unless the news only confirms what the
// operator already knows: what its last pass concluded (which the cache may not show yet: the
// echo of the operator's own create, unlink or delete costs nothing). News that arrives while a
// pass runs is kept and compared with what that pass concludes, since the pass may have read Codat
// before the change. It says whether the object will look.
func (p *Pacer) Heard(name types.NamespacedName, n News, shown string) bool {
	p.mu.Lock()
	if n.Deleted && p.released.has(n.Connection) {
		p.mu.Unlock()
		return false
	}
	o := p.objects[name]
	if o != nil && o.inflight {
		o.heard = append(o.heard, n)
		p.mu.Unlock()
		return true
	}
	known := shown
	if o != nil && o.connection == n.Connection && o.concluded != "" {
		known = o.concluded
	}
	if !n.Deleted && !n.Failed && n.Status == known {
		p.mu.Unlock()
		return false
	}
	p.objectLocked(name).woken = true
	q := p.queue
	p.mu.Unlock()
	p.look(q, name, 0, Event)
	return true
}

// HeardUnknown takes news of a connection that no object is known to manage. Codat may send the
// webhook of a create before its answer reaches the operator: the news is kept by every pass of
// the company that is creating a connection, and compared when the pass learns its connection's
// id. Else the connection is not this cluster's. It says whether a pass kept it.
func (p *Pacer) HeardUnknown(company string, n News) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := false
	for _, o := range p.objects {
		if o.inflight && o.connection == "" && o.company == company {
			o.heard = append(o.heard, n)
			kept = true
		}
	}
	return kept
}

// Managing names the object that the operator's passes concluded manages the connection.
func (p *Pacer) Managing(connection string) (types.NamespacedName, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	name, ok := p.byConnection[connection]
	return name, ok
}

// missed says whether news heard during a pass may tell something the pass did not see: news of
// the pass's connection that is not what the pass concluded.
func (o *object) missed(heard []News) bool {
	for _, n := range heard {
		if n.Connection != o.connection {
			continue // news of another company's connection, kept while this pass created one
		}
		if n.Deleted || n.Failed || n.Status != o.concluded {
			return true
		}
	}
	return false
}

// QuotaReached holds every call to Codat until the daily quota resets (Codat's
// client.rateLimit.reached webhook), at most MaxWait; without a usable expiry, until the next
// midnight UTC, when Codat's quota resets.
func (p *Pacer) QuotaReached(expiry time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	until := expiry
	if !until.After(now) {
		day := now.UTC()
		until = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC).Add(24 * time.Hour)
	}
	until = minTime(until, now.Add(MaxWait))
	p.quotaUntil = until
	return until
}

// QuotaReset lets calls go again (client.rateLimit.reset): the objects the used-up quota held
// look at once. It says whether the quota was held.
func (p *Pacer) QuotaReset() bool {
	p.mu.Lock()
	if p.quotaUntil.IsZero() {
		p.mu.Unlock()
		return false
	}
	p.quotaUntil = time.Time{}
	var held []types.NamespacedName
	for name, o := range p.objects {
		if o.hold == QuotaReached {
			o.hold, o.due = Free, time.Time{}
			held = append(held, name)
		}
	}
	q := p.queue
	p.mu.Unlock()
	for _, name := range held {
		p.look(q, name, 0, Work)
	}
	return true
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// SetSafetyNet tells the pacer whether the webhook receiver is healthy: while it is, polls are
// only the safety net. When that changes, the polls that must move move.
func (p *Pacer) SetSafetyNet(on bool) {
	p.mu.Lock()
	if p.safetyNet == on {
		p.mu.Unlock()
		return
	}
	p.safetyNet = on
	p.rescheduleLocked(func(*object) bool { return true })
}

// replan hears of a change of a key's budget plan and moves the polls of its objects that must move.
func (p *Pacer) replan(key string) {
	p.mu.Lock()
	p.rescheduleLocked(func(o *object) bool { return o.key == key })
}

// rescheduleLocked recomputes the planned polls of the objects that match, from their last look:
// a poll that may now come sooner is asked for sooner (never sooner than its interval after the
// last look, spread over an interval when that is past); one that must come later is only marked
// due later, and the look already asked for ends at once when it comes (Begin). Retries, holds and
// passes under way keep their own schedule. It unlocks.
func (p *Pacer) rescheduleLocked(match func(*object) bool) {
	now := p.now()
	type move struct {
		name  types.NamespacedName
		after time.Duration
	}
	var sooner []move
	for name, o := range p.objects {
		if !match(o) || o.due.IsZero() || o.lastLook.IsZero() || o.inflight || o.failures > 0 ||
			o.hold == RetryAfter || o.hold == QuotaReached {
			continue
		}
		interval, mode := p.intervalLocked(o, now)
		if mode == budget.WritesOnly {
			// The planned look comes as planned: Allow holds it until the reset, and the
			// object says why.
			continue
		}
		due := o.lastLook.Add(interval)
		if due.Before(now) {
			due = now.Add(time.Duration(o.spread*float64(interval)) + 1)
		}
		if due.Before(o.due) {
			sooner = append(sooner, move{name, due.Sub(now)})
		}
		o.due, o.hold = due, Free
	}
	q := p.queue
	p.mu.Unlock()
	for _, m := range sooner {
		p.look(q, m.name, m.after, Poll)
	}
}
