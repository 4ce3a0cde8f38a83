package pacer

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/codat-operator/codat-operator/internal/budget"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// world is a pacer with a clock the test moves, draws fixed at one half, and a queue that records
// the looks the pacer asks for itself.
type world struct {
	t     *testing.T
	now   time.Time
	p     *Pacer
	queue *looks
}

type look struct {
	after   time.Duration
	urgency Urgency
}

type looks struct {
	mu  sync.Mutex
	got map[types.NamespacedName][]look
}

func (l *looks) Look(name types.NamespacedName, after time.Duration, u Urgency) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got[name] = append(l.got[name], look{after, u})
}

// take returns and clears the looks asked for the object.
func (l *looks) take(name types.NamespacedName) []look {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.got[name]
	delete(l.got, name)
	return got
}

func newWorld(t *testing.T, b *budget.Budget) *world {
	w := &world{t: t, now: t0, queue: &looks{got: map[types.NamespacedName][]look{}}}
	w.p = New(Config{Intervals: DefaultIntervals, Budget: b, Now: func() time.Time { return w.now }, Rand: func() float64 { return 0.5 }})
	w.p.SetQueue(w.queue)
	return w
}

func name(n string) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: n} }

// pass runs one pass of the object that the pacer lets through, and ends it with out.
func (w *world) pass(n string, out Outcome) Next {
	w.t.Helper()
	if skip, later := w.p.Begin(name(n), Facts{Company: "c"}); skip {
		w.t.Fatalf("%s: Begin skipped the pass (after %s)", n, later.After)
	}
	return w.p.End(name(n), out)
}

const key = "key-1"

// jittered is d plus the tenth that the fixed draw of one half adds.
func jittered(d time.Duration) time.Duration { return d + d/20 }

// When an object looks again after a realized pass: sooner while the business has just started
// waiting, less often the longer it waits, at the settled interval once in its desired state, and
// at the safety net's while webhooks flow.
func TestPollIntervals(t *testing.T) {
	for _, tc := range []struct {
		name      string
		safetyNet bool
		waited    time.Duration // -1: settled
		want      time.Duration
	}{
		{"settled", false, -1, jittered(10 * time.Minute)},
		{"just started waiting", false, 0, jittered(time.Minute)},
		{"waited ten minutes", false, 10 * time.Minute, jittered(5 * time.Minute)},
		{"waited a day", false, 24 * time.Hour, jittered(10 * time.Minute)},
		{"settled, webhooks flowing", true, -1, jittered(6 * time.Hour)},
		{"waiting, webhooks flowing", true, 0, jittered(6 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, nil)
			w.p.SetSafetyNet(tc.safetyNet)
			out := Outcome{Result: Realized, Key: key}
			if tc.waited >= 0 {
				out.Waiting, out.WaitingSince = true, t0.Add(-tc.waited)
			}
			next := w.pass("o", out)
			if !next.Requeue || next.After != tc.want || next.Urgency != Poll || next.Mode != budget.Normal {
				t.Fatalf("next %+v, want a poll after %s", next, tc.want)
			}
		})
	}
}

// Transient failures back off from BackoffBase, doubling, up to BackoffMax; one backoff, whatever
// failed. Codat's Retry-After wins, at most a day, and holds every look of the object until then.
func TestFailuresBackOff(t *testing.T) {
	w := newWorld(t, nil)
	var got []time.Duration
	for range 11 {
		got = append(got, w.pass("o", Outcome{Result: Failed, Key: key, Working: true}).After)
	}
	want := []int{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300}
	for i := range want {
		if got[i] != time.Duration(want[i])*time.Second {
			t.Fatalf("backoffs %v, want %v seconds", got, want)
		}
	}
	if next := w.pass("o", Outcome{Result: Realized, Key: key}); next.After != jittered(10*time.Minute) {
		t.Fatalf("after a success the poll comes after %s", next.After)
	}
	if next := w.pass("o", Outcome{Result: Failed, Key: key}); next.After != time.Second || next.Urgency != Poll {
		t.Fatalf("a failed poll after a success: %+v, want the first backoff, as a poll", next)
	}

	for _, tc := range []struct {
		name       string
		retryAfter time.Duration
		throttled  bool
		wantWait   time.Duration
		held       bool
	}{
		{"a 429 with Retry-After", 42 * time.Second, true, 42 * time.Second, true},
		{"a 503 with Retry-After", 30 * time.Second, false, 30 * time.Second, true},
		{"a 429 without Retry-After", 0, true, time.Second, true},
		{"a 503 without Retry-After", 0, false, time.Second, false},
		{"a Retry-After of a year", 365 * 24 * time.Hour, true, MaxWait, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, nil)
			next := w.pass("throttled", Outcome{Result: Failed, Key: key, RetryAfter: tc.retryAfter, Throttled: tc.throttled})
			if next.After != tc.wantWait {
				t.Fatalf("waits %s, want %s", next.After, tc.wantWait)
			}
			w.p.Wake(name("throttled"), Work) // a user's change comes early
			hold, wait := w.p.Allow(name("throttled"), key, false)
			if tc.held != (hold == RetryAfter) || (tc.held && wait != tc.wantWait) {
				t.Fatalf("a look before the wait ended: %v for %s; held %t wanted", hold, wait, tc.held)
			}
			if hold, _ := w.p.Allow(name("other"), key, false); hold != Free {
				t.Fatalf("another object is held: %v", hold)
			}
			w.now = w.now.Add(tc.wantWait)
			if hold, _ := w.p.Allow(name("throttled"), key, false); hold != Free {
				t.Fatalf("after the wait: %v", hold)
			}
		})
	}
}

// A routine look goes only when its poll is due: the first look after a start spreads the poll
// over its interval, and a look asked for before the poll is due (the queue keeps the earlier of
// two times when a plan moves a poll later) ends at once. A woken object, or one with work, looks.
func TestBeginLooksWhenDue(t *testing.T) {
	w := newWorld(t, nil)
	routine := Facts{Routine: true, Company: "c", Connection: "conn-1"}
	skip, later := w.p.Begin(name("restarted"), routine)
	after := later.After
	if !skip || after != jittered(10*time.Minute)/2+1 || later.Urgency != Poll || !later.Requeue {
		t.Fatalf("first look after a start: skip %t, %+v; want a poll spread to half its interval", skip, later)
	}
	w.now = w.now.Add(after)
	if skip, _ := w.p.Begin(name("restarted"), routine); skip {
		t.Fatal("the look when the spread poll is due was skipped")
	}
	next := w.p.End(name("restarted"), Outcome{Result: Realized, Key: key})
	w.now = w.now.Add(time.Minute)
	if skip, later := w.p.Begin(name("restarted"), routine); !skip || later.After != next.After-time.Minute {
		t.Fatalf("a look a minute after the poll: skip %t, after %s; want the rest of %s", skip, later.After, next.After)
	}
	w.p.Wake(name("restarted"), Work)
	if skip, _ := w.p.Begin(name("restarted"), routine); skip {
		t.Fatal("a woken object's look was skipped")
	}
	if got := w.queue.take(name("restarted")); len(got) != 1 || got[0] != (look{0, Work}) {
		t.Fatalf("Wake asked for %v, want one look now as work", got)
	}
	w.p.End(name("restarted"), Outcome{Result: Realized, Key: key})
	if skip, _ := w.p.Begin(name("restarted"), Facts{Company: "c"}); skip {
		t.Fatal("a look with work to do was skipped")
	}
}

// Codat's client.rateLimit.reached holds every call until its expiry, at most a day (a broken
// expiry cannot stop the operator for longer), or until midnight UTC without one; the reset lets
// the held objects look at once.
func TestQuotaReached(t *testing.T) {
	for _, tc := range []struct {
		name   string
		expiry time.Time
		want   time.Time
	}{
		{"expiry in an hour", t0.Add(time.Hour), t0.Add(time.Hour)},
		{"expiry in 2099", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), t0.Add(MaxWait)},
		{"no expiry", time.Time{}, time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, nil)
			if until := w.p.QuotaReached(tc.expiry); !until.Equal(tc.want) {
				t.Fatalf("held until %s, want %s", until, tc.want)
			}
			hold, wait := w.p.Allow(name("o"), key, false)
			if hold != QuotaReached || wait != tc.want.Sub(t0) {
				t.Fatalf("Allow: %v for %s", hold, wait)
			}
			w.p.End(name("o"), Outcome{Result: Held, Key: key, Hold: hold, HoldFor: wait})
			if !w.p.QuotaReset() {
				t.Fatal("the reset found no held quota")
			}
			if got := w.queue.take(name("o")); len(got) != 1 || got[0].after != 0 {
				t.Fatalf("after the reset the held object looks %v, want at once", got)
			}
			if hold, _ := w.p.Allow(name("o"), key, false); hold != Free {
				t.Fatalf("after the reset: %v", hold)
			}
		})
	}
}

// Below the budget's floor a routine poll waits for the quota's reset, spread over the settled
// interval; what a user asked for goes.
func TestQuotaLowHoldsPolls(t *testing.T) {
	b := budget.New(budget.Options{Share: 0.5, Floor: 0.1, Now: func() time.Time { return t0 }})
	b.Observe(key, 1000, 50, t0.Add(3*time.Hour))
	w := newWorld(t, b)
	hold, wait := w.p.Allow(name("o"), key, true)
	if hold != QuotaLow || wait != 3*time.Hour+5*time.Minute+1 {
		t.Fatalf("a poll below the floor: %v for %s, want until the reset and half the settled interval", hold, wait)
	}
	if hold, _ := w.p.Allow(name("o"), key, false); hold != Free {
		t.Fatalf("a write below the floor: %v", hold)
	}
	if next := w.pass("polled", Outcome{Result: Realized, Key: key}); next.Mode != budget.WritesOnly || next.After < 3*time.Hour {
		t.Fatalf("a poll that went out below the floor: next %+v, want after the reset", next)
	}
}

// A thousand connections that start waiting for the business at once poll every minute at first,
// far faster than a day of the share allows: their early polls are not stretched while what they
// cost until the reset fits in what is left (issue 16).
func TestABurstOfWaitingConnectionsIsNotStretched(t *testing.T) {
	b := budget.New(budget.Options{Share: 0.25, Now: func() time.Time { return t0 }})
	b.Observe(key, 101000, 98000, t0.Add(10*time.Hour))
	w := newWorld(t, b)
	for i := range 1000 {
		next := w.pass(fmt.Sprint("new-", i), Outcome{Result: Realized, Key: key, Waiting: true, WaitingSince: t0})
		if next.After != jittered(time.Minute) || next.Mode != budget.Normal {
			t.Fatalf("waiting connection %d: next %+v, want a minute", i, next)
		}
	}
	// Settled and polled every ten minutes for the ten hours left, the same thousand would spend
	// 60,000 requests: their steady polls stretch.
	next := w.pass("settled", Outcome{Result: Realized, Key: key})
	if next.Mode != budget.Stretched || next.After <= jittered(10*time.Minute) {
		t.Fatalf("a settled connection beside them: %+v, want stretched", next)
	}
}

// earlyPolls counts the polls of a waiting connection beyond one every Settled interval, while its
// interval still grows: 8 polls in the first 22.8 minutes (1, 1, 1, 1.5, 2.25, 3.4, 5.1 and 7.6
// minutes apart), 2.28 of which a settled connection would make too.
func TestEarlyPolls(t *testing.T) {
	p := New(Config{})
	if got := p.earlyPolls(0); got < 5.7 || got > 5.75 {
		t.Errorf("early polls of a new connection: %.3f, want 5.72", got)
	}
	if got := p.earlyPolls(time.Hour); got != 0 {
		t.Errorf("early polls after an hour of waiting: %.3f, want none", got)
	}
}

// A change of plan moves only the polls that must move: when polls may come sooner, a stretched
// poll comes back at its normal interval after its last look (spread over an interval if that is
// past), and a poll already due sooner is not touched. A tighter plan pulls nothing earlier; the
// look already asked for ends at once when it comes.
func TestReplanMovesOnlyThePollsThatMustMove(t *testing.T) {
	now := t0
	b := budget.New(budget.Options{Share: 0.5, Now: func() time.Time { return now }})
	w := newWorld(t, b)
	// 490 requests left of the share for 3 hours; a thousand settled objects want 18,000.
	b.Observe(key, 1000, 990, t0.Add(3*time.Hour))
	for i := range 1000 {
		b.Track(fmt.Sprint("other-", i), key, budget.Demand{Every: 10 * time.Minute})
	}
	stretched := w.pass("stretched", Outcome{Result: Realized, Key: key})
	if stretched.Mode != budget.Stretched || stretched.After < time.Hour {
		t.Fatalf("next %+v, want a stretched poll", stretched)
	}
	w.now = w.now.Add(8 * time.Minute)
	now = w.now
	recent := w.pass("recent", Outcome{Result: Realized, Key: key})

	// The quota grows (companies connected): polls may come at their own interval again.
	w.now = w.now.Add(4 * time.Minute)
	now = w.now
	for i := range 1000 {
		b.Forget(fmt.Sprint("other-", i))
	}
	w.queue.take(name("stretched"))
	w.queue.take(name("recent"))
	w.p.replan(key)
	// "stretched" looked 12 minutes ago: its normal poll is past, so it comes within an interval.
	if got := w.queue.take(name("stretched")); len(got) == 0 || got[len(got)-1].after != jittered(10*time.Minute)/2+1 || got[len(got)-1].urgency != Poll {
		t.Fatalf("the stretched poll: looks %v, want one spread over the interval", got)
	}
	// "recent" looked 4 minutes ago: its normal poll is in 6.5 minutes, sooner than its stretched one.
	if got := w.queue.take(name("recent")); len(got) == 0 || got[len(got)-1].after != jittered(10*time.Minute)-4*time.Minute {
		t.Fatalf("the recent poll: looks %v, want its normal interval after its last look", got)
	}
	if recent.After <= jittered(10*time.Minute) {
		t.Fatalf("the recent poll was not stretched to begin with: %+v", recent)
	}

	// A normal poll is never pulled earlier by a plan, and a tighter plan only marks it later.
	normal := w.pass("normal", Outcome{Result: Realized, Key: key})
	w.p.replan(key)
	if got := w.queue.take(name("normal")); len(got) != 0 {
		t.Fatalf("a replan with nothing to move asked for %v", got)
	}
	for i := range 1000 {
		b.Track(fmt.Sprint("other-", i), key, budget.Demand{Every: 10 * time.Minute})
	}
	w.p.replan(key)
	if got := w.queue.take(name("normal")); len(got) != 0 {
		t.Fatalf("a tighter plan asked for %v", got)
	}
	w.now = w.now.Add(normal.After)
	if skip, later := w.p.Begin(name("normal"), Facts{Routine: true}); !skip || later.After <= 0 {
		t.Fatalf("the look asked for before the plan tightened: skip %t after %s, want skipped until the stretched poll", skip, later.After)
	}
}

// When the receiver becomes healthy, polls are only marked later; when it stops, polls waiting a
// safety-net interval come back within the normal one.
func TestSafetyNetMovesPolls(t *testing.T) {
	w := newWorld(t, nil)
	w.p.SetSafetyNet(true)
	if next := w.pass("o", Outcome{Result: Realized, Key: key}); next.After != jittered(6*time.Hour) {
		t.Fatalf("with webhooks: next %s", next.After)
	}
	w.now = w.now.Add(time.Minute)
	w.p.SetSafetyNet(false)
	if got := w.queue.take(name("o")); len(got) != 1 || got[0].after != jittered(10*time.Minute)-time.Minute {
		t.Fatalf("the receiver stopped: looks %v, want the normal poll after the last look", got)
	}
	w.p.SetSafetyNet(true)
	if got := w.queue.take(name("o")); len(got) != 0 {
		t.Fatalf("the receiver healthy again: looks %v, want none (the poll is only marked later)", got)
	}
}

// Urgency orders the queue: Codat's news first, then what users asked for, then polls.
func TestUrgencyPriorities(t *testing.T) {
	if Event.Priority() <= Work.Priority() || Work.Priority() <= Poll.Priority() {
		t.Fatalf("priorities event %d, work %d, poll %d", Event.Priority(), Work.Priority(), Poll.Priority())
	}
}
