package main

import (
	"slices"
	"sync"
	"time"
)

// business plays the businesses that authorize their connections: it links each connection that
// waits (each as soon as it waits, or all once every one waits), at most linkRate a second, and
// measures the time from each link to its object's Ready.
type business struct {
	simURL    string
	objects   int
	eachAsIt  bool
	interval  time.Duration
	work      chan link
	waiting   map[string]link
	linkedAt  sync.Map // object name -> time.Time the business began to link it
	readyAt   map[string]time.Time
	done      sync.WaitGroup
	released  bool
	closeOnce sync.Once
}

type link struct{ name, company, connection string }

// linkers is how many links go out at once when no rate is set.
const linkers = 10

func newBusiness(o options, simURL string) *business {
	b := &business{simURL: simURL, objects: o.objects, eachAsIt: o.linkWhen == "each-waiting",
		work: make(chan link, o.objects), waiting: map[string]link{}, readyAt: map[string]time.Time{}}
	workers := linkers
	if o.linkRate > 0 {
		b.interval, workers = time.Duration(float64(time.Second)/o.linkRate), 1
	}
	for range workers {
		b.done.Go(b.linker)
	}
	return b
}

// waits hears that an object's connection waits for the business (called from one goroutine).
func (b *business) waits(name, company, connection string) {
	if _, seen := b.waiting[name]; seen {
		return
	}
	l := link{name, company, connection}
	b.waiting[name] = l
	switch {
	case b.eachAsIt:
		b.work <- l
	case len(b.waiting) == b.objects && !b.released:
		b.released = true
		for _, l := range b.waiting {
			b.work <- l
		}
	}
}

func (b *business) linker() {
	var next time.Time
	for l := range b.work {
		if b.interval > 0 {
			time.Sleep(time.Until(next)) // the first link goes at once
			next = time.Now().Add(b.interval)
		}
		b.linkedAt.Store(l.name, time.Now())
		_ = post(b.simURL+"/_sim/companies/"+l.company+"/connections/"+l.connection+"/link", "")
	}
}

// ready hears that an object turned Ready (called from the goroutine that calls waits).
func (b *business) ready(name string, at time.Time) { b.readyAt[name] = at }

func (b *business) close() {
	b.closeOnce.Do(func() { close(b.work) })
	b.done.Wait()
}

// latencies are the p50, p99 and largest time from a link to its object's Ready.
func (b *business) latencies() (p50, p99, most time.Duration) {
	var all []time.Duration
	for name, ready := range b.readyAt {
		if linked, ok := b.linkedAt.Load(name); ok {
			all = append(all, max(ready.Sub(linked.(time.Time)), 0))
		}
	}
	if len(all) == 0 {
		return 0, 0, 0
	}
	slices.Sort(all)
	at := func(q float64) time.Duration {
		return all[min(len(all)-1, int(q*float64(len(all))))].Round(100 * time.Millisecond)
	}
	return at(0.50), at(0.99), all[len(all)-1].Round(100 * time.Millisecond)
}
