// Package budget keeps the operator's use of a Codat account's daily quota within a share of it.
//
// Codat's quota is 1,000 × (1 + active connected companies) requests a day per account, shared by
// the operator and the user's own application; past it every request of the account gets 429 until
// the quota resets at midnight UTC. Every answer says what is left (X-Rate-Limit-Limit, -Remaining,
// -Reset). The budget learns that from the answers (Observe), counts the operator's own requests,
// and plans the polls: writes the user asked for always go out; polls stretch when what the tracked
// objects would ask until the reset exceeds what is left of the operator's share (steady polls
// first, then the early polls of connections that just started waiting for the business), and
// stop when what is left of the quota falls below a floor. A burst of new objects is judged by what
// it costs until the reset, not by how fast it polls this minute.
//
// Nothing is stored: after a restart the plan is recomputed from the first answer's headers, and the
// operator assumes it already used its share of whatever was used that day, so it never overspends
// (at worst it polls less until the reset).
package budget

import (
	"math"
	"sync"
	"time"
)

// Mode is how a key's polls go.
type Mode int

const (
	// Normal means polls go at the intervals the operator would use anyway.
	Normal Mode = iota
	// Stretched means polls wait longer, so that the operator's share lasts until the quota resets.
	Stretched
	// WritesOnly means what is left of the quota is below the floor, or the operator's share is
	// used up: only writes go out until the quota resets.
	WritesOnly
)

func (m Mode) String() string {
	switch m {
	case Stretched:
		return "stretched"
	case WritesOnly:
		return "writes-only"
	}
	return "normal"
}

// Class says which polls stretch first.
type Class int

const (
	// Waiting polls are the early, sooner polls of a connection that just started waiting for the
	// business: they stretch last.
	Waiting Class = iota
	// Settled polls are steady polls: of connections in their desired state, and of those that
	// waited long enough for their interval to stop growing. They stretch first.
	Settled
)

// Demand is what one object would ask of its key's quota until the reset, at its own intervals.
type Demand struct {
	// Every is the interval of its steady (Settled) polls.
	Every time.Duration
	// Extra counts the Waiting polls it makes before the reset beyond one every Every.
	Extra float64
}

// Defaults for Options.
const (
	DefaultShare  = 0.25
	DefaultFloor  = 0.10
	DefaultPeriod = 24 * time.Hour
)

// Options configure a Budget. Zero values take the defaults.
type Options struct {
	// Share is the fraction of the daily quota the operator may use (0 < Share ≤ 1).
	Share float64
	// Floor is the fraction of the daily quota that must stay unused: below it only writes go out.
	Floor float64
	// Period is the length of Codat's quota period (a day; tests shorten it).
	Period time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Budget plans the polls of every API key. Safe for concurrent use.
type Budget struct {
	opts Options

	mu       sync.Mutex
	accounts map[string]*account // by key fingerprint
	objects  map[string]poller   // by object name
	// subscribers hear of plan changes (Subscribe).
	subscribers []func(string, Plan)
}

// account is what the budget knows of one key's quota.
type account struct {
	limit, remaining int
	reset            time.Time
	// used counts the operator's requests since the period began (assumed, after a restart).
	used int
	// rate is the steady polls per second of the tracked objects; extra their early polls.
	rate, extra float64
	// tracked counts the objects that poll with the key; lastUsed is the last time the key was in use
	// (Codat answered for it, or its last object left it).
	tracked  int
	lastUsed time.Time
	// announced is the plan subscribers last heard of.
	announced Plan
}

type poller struct {
	key   string
	rate  float64 // 1 / Demand.Every, in polls per second
	extra float64
}

// New returns a Budget.
func New(o Options) *Budget {
	if o.Share <= 0 || o.Share > 1 {
		o.Share = DefaultShare
	}
	if o.Floor < 0 || o.Floor >= 1 {
		o.Floor = DefaultFloor
	}
	if o.Period <= 0 {
		o.Period = DefaultPeriod
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Budget{opts: o, accounts: map[string]*account{}, objects: map[string]poller{}}
}

// Observe takes the rate-limit headers of one of the operator's answers: the request counted
// against the quota, and Codat said what is left.
func (b *Budget) Observe(key string, limit, remaining int, reset time.Time) {
	if limit <= 0 || remaining < 0 {
		return
	}
	b.mu.Lock()
	defer b.unlockAndNotify(key)
	a := b.accounts[key]
	switch {
	case a == nil:
		// First sight (a start or restart): assume the operator used its share of what was used.
		a = &account{used: min(int(b.opts.Share*float64(limit)), limit-remaining)}
		b.accounts[key] = a
		for _, p := range b.objects { // tracked before the key's first answer
			if p.key == key {
				a.rate += p.rate
				a.extra += p.extra
				a.tracked++
			}
		}
	case !reset.IsZero() && !reset.Equal(a.reset):
		// A new period: Codat names another reset time. This process saw it begin: what was
		// used since is the user's application's.
		a.used = 0
	case limit == a.limit:
		// Within a period the quota only goes down; answers to concurrent requests arrive in
		// any order, so the least remaining seen is the truth.
		remaining = min(remaining, a.remaining)
	default:
		// The quota itself changed within the period: Codat's grows with each company that
		// connects (and shrinks with one that disconnects), and what is left moves with it.
	}
	a.limit, a.remaining = limit, remaining
	if !reset.IsZero() {
		a.reset = reset
	}
	a.used++
	a.lastUsed = b.opts.Now()
}

// Track records what an object would ask of key until the reset, so that the plan knows the load.
// Track again when that changes.
func (b *Budget) Track(object, key string, d Demand) {
	if d.Every <= 0 {
		return
	}
	b.mu.Lock()
	defer b.unlockAndNotify(key)
	b.forgetLocked(object)
	p := poller{key: key, rate: 1 / d.Every.Seconds(), extra: max(d.Extra, 0)}
	b.objects[object] = p
	if a := b.accounts[key]; a != nil {
		a.rate += p.rate
		a.extra += p.extra
		a.tracked++
	}
}

// Forget stops counting an object's polls (it stalled, is deleted, or no longer polls); the room
// it leaves may change the plan.
func (b *Budget) Forget(object string) {
	b.mu.Lock()
	p, ok := b.objects[object]
	if !ok {
		b.mu.Unlock()
		return
	}
	defer b.unlockAndNotify(p.key)
	b.forgetLocked(object)
}

func (b *Budget) forgetLocked(object string) {
	p, ok := b.objects[object]
	if !ok {
		return
	}
	delete(b.objects, object)
	if a := b.accounts[p.key]; a != nil {
		a.rate = math.Max(0, a.rate-p.rate)
		a.extra = math.Max(0, a.extra-p.extra)
		a.tracked--
		if a.tracked == 0 {
			a.lastUsed = b.opts.Now()
		}
	}
}

// Plan is how a key's polls go now.
type Plan struct {
	Mode Mode
	// Factor stretches each class's intervals (1: as asked).
	Factor [2]float64
	// Reset is when the quota resets; polls wait at most until then.
	Reset time.Time
	// Allowed is the polls per second the operator's share allows until the reset.
	Allowed float64
}

// PlanFor returns the key's current plan; a key with no answer yet is Normal.
func (b *Budget) PlanFor(key string) Plan {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.accounts[key]
	if a == nil {
		return Plan{Mode: Normal, Factor: [2]float64{1, 1}}
	}
	return b.planLocked(a)
}

// Interval is the poll interval of an object of the class on the key: interval, stretched as the
// plan says, and never past the quota's reset by more than interval; the mode is Stretched only
// when this class's polls are. In WritesOnly the poll waits for the reset.
func (b *Budget) Interval(key string, class Class, interval time.Duration) (time.Duration, Mode) {
	p := b.PlanFor(key)
	if p.Mode == Normal || (p.Mode == Stretched && p.Factor[class] <= 1) {
		return interval, Normal // this class's polls are not stretched
	}
	untilReset := p.Reset.Sub(b.opts.Now())
	if p.Mode == WritesOnly {
		return max(untilReset, 0) + interval, WritesOnly
	}
	stretched := float64(interval) * p.Factor[class]
	if untilReset > 0 && stretched > float64(untilReset+interval) {
		stretched = float64(untilReset + interval) // also an infinite factor: wait for the reset
	}
	stretched = math.Min(stretched, float64(b.opts.Period)+float64(interval))
	return max(time.Duration(stretched), interval), Stretched
}

// planLocked is the key's plan from what is left of the quota, the operator's share of it, and the
// polls the tracked objects would make.
func (b *Budget) planLocked(a *account) Plan {
	now := b.opts.Now()
	p := Plan{Mode: Normal, Factor: [2]float64{1, 1}, Reset: a.reset}
	if !a.reset.IsZero() && !now.Before(a.reset) {
		return p // the period ended; the next answer starts a new one
	}
	floor := b.opts.Floor * float64(a.limit)
	share := b.opts.Share * float64(a.limit)
	left := math.Min(share-float64(a.used), float64(a.remaining)-floor)
	if left <= 0 {
		p.Mode = WritesOnly
		return p
	}
	timeLeft := b.opts.Period
	if !a.reset.IsZero() {
		timeLeft = a.reset.Sub(now)
	}
	timeLeft = max(timeLeft, b.opts.Period/1440) // a minute of a day
	p.Allowed = left / timeLeft.Seconds()
	waiting, settled := a.extra, a.rate*timeLeft.Seconds()
	switch {
	case waiting+settled <= left:
	case waiting < left:
		p.Mode = Stretched
		p.Factor[Settled] = settled / (left - waiting)
	default:
		p.Mode = Stretched
		p.Factor[Waiting] = waiting / left
		p.Factor[Settled] = math.Inf(1) // until the reset
	}
	return p
}

// Subscribe adds fn to hear of every key's plan changes: its mode, or a stretch factor halved or
// doubled. fn is called without the budget's lock.
func (b *Budget) Subscribe(fn func(key string, p Plan)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subscribers = append(b.subscribers, fn)
}

// Objects lists the objects that poll on key.
func (b *Budget) Objects(key string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for name, p := range b.objects {
		if p.key == key {
			out = append(out, name)
		}
	}
	return out
}

// unlockAndNotify replans the key, unlocks, and then tells the subscribers when the plan changed
// enough to matter.
func (b *Budget) unlockAndNotify(key string) {
	var changed *Plan
	if a := b.accounts[key]; a != nil {
		p := b.planLocked(a)
		if planChanged(a.announced, p) {
			a.announced = p
			changed = &p
		}
	}
	subscribers := b.subscribers
	b.mu.Unlock()
	if changed == nil {
		return
	}
	for _, fn := range subscribers {
		fn(key, *changed)
	}
}

// planChanged says whether subscribers should hear of a new plan: another mode, or a stretch
// factor halved or doubled.
func planChanged(was, is Plan) bool {
	if was.Mode != is.Mode {
		return true
	}
	for c := range is.Factor {
		w, i := math.Max(was.Factor[c], 1), math.Max(is.Factor[c], 1)
		if i >= 2*w || w >= 2*i {
			return true
		}
	}
	return false
}
