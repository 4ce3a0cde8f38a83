package pacer

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

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

// recent is a bounded set of strings, oldest out first.
type recent struct {
	capacity int
	set      map[string]struct{}
	ring     []string
	next     int
}

func (r *recent) add(s string) {
	if r.set == nil {
		r.set, r.ring = map[string]struct{}{}, make([]string, r.capacity)
	}
	if _, ok := r.set[s]; ok {
		return
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.set, old)
	}
	r.ring[r.next] = s
	r.next = (r.next + 1) % r.capacity
	r.set[s] = struct{}{}
}

func (r *recent) has(s string) bool {
	_, ok := r.set[s]
	return ok
}
