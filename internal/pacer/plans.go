package pacer

import (
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/codat-operator/codat-operator/internal/budget"
)

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
