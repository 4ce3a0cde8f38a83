package budget

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const key = "k1"

// clock is a fake clock the tests move.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var midnight = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// day simulates one quota period of Codat: the quota, the operator's objects polling at what the
// budget allows, writes the user asks for, and the user's own application.
type day struct {
	t         *testing.T
	b         *Budget
	clock     *clock
	limit     int
	remaining int
	reset     time.Time
	// counts of requests by who made them
	polls, writes, user int
	// deferred counts the polls the budget held back in WritesOnly
	deferred int
}

func newDay(t *testing.T, o Options) *day {
	const limit = 1000
	c := &clock{t: midnight}
	o.Now = c.now
	return &day{t: t, b: New(o), clock: c, limit: limit, remaining: limit, reset: midnight.Add(24 * time.Hour)}
}

// request spends one request of the quota and reports the headers to the budget, as the
// operator's client does.
func (d *day) request() bool {
	if d.remaining == 0 {
		return false // Codat answers 429: the request was not counted as the operator's
	}
	d.remaining--
	d.b.Observe(key, d.limit, d.remaining, d.reset)
	return true
}

// run lets n settled objects poll from now until the reset, every interval unless the budget
// stretches it; each step also makes the user's calls and the writes the step asks for.
func (d *day) run(n int, interval time.Duration, step func(minute int)) {
	const class = Settled
	next := make([]time.Time, n)
	for i := range next {
		// Spread like jitter would.
		next[i] = d.clock.t.Add(time.Duration(i) * interval / time.Duration(n))
		d.b.Track(fmt.Sprint(i), key, Demand{Every: interval})
	}
	for minute := 0; d.clock.t.Before(d.reset); minute++ {
		if step != nil {
			step(minute)
		}
		for i := range next {
			if d.clock.t.Before(next[i]) {
				continue
			}
			wait, mode := d.b.Interval(key, class, interval)
			if mode == WritesOnly {
				d.deferred++
			} else if d.request() {
				d.polls++
			}
			next[i] = d.clock.t.Add(wait)
		}
		d.clock.t = d.clock.t.Add(time.Minute)
	}
}

// A day of polling stays within the operator's share of the quota, however many objects there are.
func TestShareIsRespectedOverADay(t *testing.T) {
	for _, tc := range []struct {
		objects  int
		interval time.Duration
		share    float64
	}{
		{10, 10 * time.Minute, 0.25},  // 1,440 polls wanted, 250 allowed
		{100, 10 * time.Minute, 0.25}, // 14,400 wanted
		{3, 10 * time.Minute, 0.25},   // 432 wanted, 250 allowed: stretched a little
		{1, time.Hour, 0.25},          // 24 wanted: nothing to stretch
		{1000, time.Minute, 0.5},      // a flood
	} {
		t.Run(fmt.Sprintf("%d objects every %s, share %.2f", tc.objects, tc.interval, tc.share), func(t *testing.T) {
			d := newDay(t, Options{Share: tc.share})
			d.request() // the first answer teaches the budget the quota
			d.run(tc.objects, tc.interval, nil)
			allowed := int(tc.share * 1000)
			wanted := tc.objects * int(24*time.Hour/tc.interval)
			if d.polls+1 > allowed+1 {
				t.Errorf("%d polls (+1 first request) in a day, share allows %d", d.polls, allowed)
			}
			if wanted <= allowed && d.polls < wanted-tc.objects {
				t.Errorf("%d polls, %d wanted within the share: the budget held back polls it had room for", d.polls, wanted)
			}
			if wanted > allowed && d.polls < allowed*8/10 {
				t.Errorf("%d polls of the %d the share allows: the budget wastes its share", d.polls, allowed)
			}
		})
	}
}

// Writes are never held back, and they leave less for polls.
func TestWritesComeFirst(t *testing.T) {
	d := newDay(t, Options{Share: 0.25})
	d.request()
	d.run(50, 10*time.Minute, func(minute int) {
		if minute%10 == 0 && minute < 600 { // 60 writes in the first ten hours
			d.request()
			d.writes++
		}
	})
	if d.writes != 60 {
		t.Fatalf("%d writes, want 60", d.writes)
	}
	if total := d.polls + d.writes + 1; total > 250+1 {
		t.Errorf("%d polls and %d writes: %d in all, over the share of 250", d.polls, d.writes, total)
	}
	if d.polls > 250-60 {
		t.Errorf("%d polls: the writes did not leave less for polls", d.polls)
	}
}

// Connections in their desired state stretch first; those waiting for the business only once the
// settled ones cannot give more.
func TestStretchOrder(t *testing.T) {
	c := &clock{t: midnight.Add(12 * time.Hour)}
	b := New(Options{Share: 0.5, Now: c.now})
	// A share of 500, 100 used before the restart (assumed the operator's), and this answer's request.
	b.Observe(key, 1000, 900, midnight.Add(24*time.Hour))
	allowed := b.PlanFor(key).Allowed
	if math.Abs(allowed-399.0/(12*3600)) > 1e-9 {
		t.Fatalf("allowed %v polls/s, want 399 over 12 h", allowed)
	}
	// The early polls of a few new connections fit; the steady polls of many (every 10 minutes,
	// 7,200 until the reset) do not.
	for i := range 5 {
		b.Track(fmt.Sprint("w", i), key, Demand{Every: time.Hour, Extra: 6})
	}
	for i := range 100 {
		b.Track(fmt.Sprint("s", i), key, Demand{Every: 10 * time.Minute})
	}
	p := b.PlanFor(key)
	if p.Mode != Stretched || p.Factor[Waiting] != 1 || p.Factor[Settled] <= 1 {
		t.Fatalf("plan %+v: want settled stretched, waiting as asked", p)
	}
	w, _ := b.Interval(key, Waiting, time.Hour)
	s, _ := b.Interval(key, Settled, 10*time.Minute)
	if w != time.Hour || s <= 10*time.Minute {
		t.Fatalf("waiting every %s, settled every %s", w, s)
	}
	// So many new connections that even their early polls must stretch: the steady polls wait
	// for the reset.
	for i := range 2000 {
		b.Track(fmt.Sprint("w", i), key, Demand{Every: time.Hour, Extra: 6})
	}
	p = b.PlanFor(key)
	if p.Factor[Waiting] <= 1 || !math.IsInf(p.Factor[Settled], 1) {
		t.Fatalf("plan %+v: want waiting stretched and settled held until the reset", p)
	}
	if s, _ := b.Interval(key, Settled, 10*time.Minute); s != 12*time.Hour+10*time.Minute {
		t.Fatalf("settled every %s, want until the reset", s)
	}
	// Objects that stop polling give their room back.
	for i := range 2000 {
		b.Forget(fmt.Sprint("w", i))
	}
	if p := b.PlanFor(key); p.Factor[Waiting] != 1 {
		t.Fatalf("after forgetting the waiting objects: %+v", p)
	}
}

// A burst of new connections is judged by what it costs until the reset: a thousand waiting for the
// business poll every minute at first (far faster than the share allows for a day), but their early
// polls cost a few thousand requests, well within what is left. Their polls are not stretched; the
// steady polls that would outrun the share are.
func TestABurstOfNewConnectionsIsNoReasonToStretch(t *testing.T) {
	c := &clock{t: midnight.Add(14 * time.Hour)}
	b := New(Options{Share: 0.25, Now: c.now})
	// 101 connected companies: a quota of 101,000, 3,000 used so far (assumed the operator's).
	b.Observe(key, 101000, 98000, midnight.Add(24*time.Hour))
	for i := range 1000 {
		b.Track(fmt.Sprint("new", i), key, Demand{Every: 6 * time.Hour, Extra: 7.7})
	}
	if p := b.PlanFor(key); p.Mode != Normal {
		t.Fatalf("1,000 new connections, early polls every minute, 22,000 of the share left: plan %+v, want normal", p)
	}
	// Polled every 10 minutes for the rest of the day, the same thousand would not fit: the steady
	// polls stretch, the early ones do not.
	for i := range 1000 {
		b.Track(fmt.Sprint("new", i), key, Demand{Every: 10 * time.Minute, Extra: 7.7})
	}
	p := b.PlanFor(key)
	if p.Mode != Stretched || p.Factor[Waiting] != 1 || p.Factor[Settled] <= 1 {
		t.Fatalf("plan %+v: want the steady polls stretched and the early ones as asked", p)
	}
}

// Below the floor only writes go out, until the quota resets; the user's own calls count.
func TestFloorLeavesOnlyWrites(t *testing.T) {
	d := newDay(t, Options{Share: 0.5, Floor: 0.1})
	d.request()
	d.run(20, 10*time.Minute, func(minute int) {
		if minute == 60 { // the user's application spends most of the quota at one in the morning
			for range 850 {
				d.request()
				d.user++
			}
		}
	})
	if d.remaining < 100-1 {
		t.Errorf("%d left at the end of the day: the operator polled below the floor of 100", d.remaining)
	}
	if d.deferred == 0 {
		t.Error("no poll was held back below the floor")
	}
	c := &clock{t: midnight}
	b := New(Options{Floor: 0.1, Now: c.now})
	b.Observe(key, 1000, 50, midnight.Add(time.Hour))
	if p := b.PlanFor(key); p.Mode != WritesOnly {
		t.Fatalf("50 of 1,000 left, floor 100: mode %s, want writes-only", p.Mode)
	}
	if wait, _ := b.Interval(key, Waiting, time.Minute); wait != time.Hour+time.Minute {
		t.Fatalf("a poll below the floor waits %s, want until the reset", wait)
	}
	c.t = midnight.Add(time.Hour) // the quota reset
	if p := b.PlanFor(key); p.Mode != Normal {
		t.Fatalf("after the reset: mode %s, want normal until the next answer says more", p.Mode)
	}
}

// The user's own calls reduce what the operator uses.
func TestUserCallsReduceTheOperatorsUse(t *testing.T) {
	quiet := newDay(t, Options{Share: 0.5})
	quiet.request()
	quiet.run(100, 10*time.Minute, nil)

	busy := newDay(t, Options{Share: 0.5})
	busy.request()
	busy.run(100, 10*time.Minute, func(minute int) {
		if minute < 400 { // the user's application makes two calls a minute for the first hours
			busy.request()
			busy.request()
			busy.user += 2
		}
	})
	if busy.polls >= quiet.polls {
		t.Errorf("%d polls beside a busy application, %d beside a quiet one: the user's calls did not reduce the operator's", busy.polls, quiet.polls)
	}
	if busy.remaining < 100-1 {
		t.Errorf("the operator left %d of the quota, under the floor", busy.remaining)
	}
}

// After a restart the budget assumes it used its share of what was used: it never overspends.
func TestRestartDoesNotOverspend(t *testing.T) {
	d := newDay(t, Options{Share: 0.25})
	d.request()
	d.run(100, 10*time.Minute, nil)
	// A second run of the same day, restarted at noon after the operator had already used 125.
	restarted := newDay(t, Options{Share: 0.25})
	restarted.clock.t = midnight.Add(12 * time.Hour)
	restarted.remaining = 1000 - 125
	restarted.request()
	restarted.run(100, 10*time.Minute, nil)
	if used := 125 + restarted.polls + 1; used > 250+1 {
		t.Errorf("with a restart at noon the operator used %d, over its share of 250", used)
	}
}

// Codat's quota grows with each company that connects: what is left grows with it, and a budget
// that was down to writes only goes back to normal.
func TestQuotaGrowsAsCompaniesConnect(t *testing.T) {
	c := &clock{t: midnight}
	b := New(Options{Now: c.now})
	reset := midnight.Add(24 * time.Hour)
	for used := 1; used <= 300; used++ { // a mass apply: creates on an account with no connected company
		b.Observe(key, 1000, 1000-used, reset)
	}
	if p := b.PlanFor(key); p.Mode != WritesOnly {
		t.Fatalf("300 of a 1,000 quota used by the operator (share 250): mode %s, want writes-only", p.Mode)
	}
	// 100 companies connected: Codat's quota is 1,000 x (1 + 100).
	b.Observe(key, 101000, 101000-301, reset)
	if p := b.PlanFor(key); p.Mode != Normal {
		t.Fatalf("the quota grew to 101,000 with 301 used: mode %s, want normal", p.Mode)
	}
	// Within the grown quota, answers arriving out of order keep the least remaining seen.
	b.Observe(key, 101000, 101000-310, reset)
	b.Observe(key, 101000, 101000-305, reset)
	if a := b.accounts[key]; a.remaining != 101000-310 {
		t.Fatalf("remaining %d, want %d", a.remaining, 101000-310)
	}
}

func TestModeNames(t *testing.T) {
	for m, want := range map[Mode]string{Normal: "normal", Stretched: "stretched", WritesOnly: "writes-only"} {
		if m.String() != want {
			t.Errorf("%d is %q", m, m.String())
		}
	}
}

// The metrics say each key's mode, the polls a day it plans, and the operator's share.
func TestMetrics(t *testing.T) {
	c := &clock{t: midnight}
	b := New(Options{Share: 0.5, Now: c.now})
	reg := prometheus.NewRegistry()
	if err := b.Register(reg); err != nil {
		t.Fatal(err)
	}
	b.Observe(key, 1000, 999, midnight.Add(24*time.Hour))
	for i := range 100 {
		b.Track(fmt.Sprint(i), key, Demand{Every: 10 * time.Minute}) // 14,400 a day wanted
	}
	got := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		got[f.GetName()] = f.GetMetric()[0].GetGauge().GetValue()
		if l := f.GetMetric()[0].GetLabel()[0]; l.GetName() != "key" || l.GetValue() != key {
			t.Errorf("%s labelled %s=%s", f.GetName(), l.GetName(), l.GetValue())
		}
	}
	if got[MetricMode] != float64(Stretched) || got[MetricShare] != 500 {
		t.Fatalf("metrics %v", got)
	}
	if p := got[MetricProjected]; p > 500 || p < 400 {
		t.Fatalf("projected %v polls a day, want within the share of 500", p)
	}
}

// After a key rotation the old key's series leave the metrics once no object polls with it and
// Codat has not answered for it within UnusedKeyTTL; a key still in use stays however quiet.
func TestMetricsForgetARotatedKey(t *testing.T) {
	c := &clock{t: midnight}
	b := New(Options{Now: c.now})
	reg := prometheus.NewRegistry()
	if err := b.Register(reg); err != nil {
		t.Fatal(err)
	}
	keys := func() map[string]bool {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				seen[m.GetLabel()[0].GetValue()] = true
			}
		}
		return seen
	}
	reset := midnight.Add(24 * time.Hour)
	b.Observe("old", 1000, 999, reset)
	b.Track("a", "old", Demand{Every: 10 * time.Minute})
	b.Track("b", "old", Demand{Every: 10 * time.Minute})

	c.t = c.t.Add(2 * UnusedKeyTTL) // quiet, but still used by a and b
	if got := keys(); !got["old"] {
		t.Fatalf("a key two objects poll with left the metrics: %v", got)
	}

	// The Secret now holds a new key: each object tracks it at its next pass.
	b.Observe("new", 1000, 998, reset)
	b.Track("a", "new", Demand{Every: 10 * time.Minute})
	if got := keys(); !got["old"] || !got["new"] {
		t.Fatalf("mid-rotation, want both keys: %v", got)
	}
	b.Track("b", "new", Demand{Every: 10 * time.Minute})
	c.t = c.t.Add(UnusedKeyTTL / 2)
	if got := keys(); !got["old"] {
		t.Fatalf("the old key left before UnusedKeyTTL: %v", got)
	}
	c.t = c.t.Add(UnusedKeyTTL) // new was answered at the rotation, more than UnusedKeyTTL ago too
	if got := keys(); got["old"] || !got["new"] {
		t.Fatalf("after UnusedKeyTTL unused, want only the new key: %v", got)
	}
	// A later answer for the old key (an object reverted to it) brings it back.
	b.Observe("old", 1000, 900, reset)
	if got := keys(); !got["old"] {
		t.Fatalf("an answered key is missing: %v", got)
	}
}
