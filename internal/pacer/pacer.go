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
}

// Pacer holds what every object's next look depends on. Safe for concurrent use.
type Pacer struct {
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
		intervals: c.Intervals.withDefaults(), budget: c.Budget, now: c.Now, rand: c.Rand,
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
		p.budget.Forget(name.String())
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

// Begin is asked at the start of a pass. It says to skip the pass (and come back after the
// returned delay) when it is a routine look whose poll is not due: a look asked for before a
// change of plan moved the poll later, or the first look after a start, which spreads the polls
// of settled objects over their interval instead of making them all at once.
func (p *Pacer) Begin(name types.NamespacedName, f Facts) (skip bool, after time.Duration) {
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
			return true, o.due.Sub(now)
		}
	}
	o.inflight, o.heard = true, nil
	return false, 0
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
