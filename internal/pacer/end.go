package pacer

import (
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/codat-operator/codat-operator/internal/budget"
)

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
			p.budget.Forget(name.String())
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
	p.budget.Track(name.String(), o.key, d)
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
