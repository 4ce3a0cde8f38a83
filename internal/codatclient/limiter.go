package codatclient

import (
	"context"
	"sync"
)

// companyLimiter caps the requests in flight per company (Codat allows 10 concurrent requests per
// company). A company's slot is dropped when nobody holds or waits for it, so memory follows the
// companies being called, not all companies ever seen.
type companyLimiter struct {
	max int

	mu    sync.Mutex
	slots map[string]*companySlot
}

type companySlot struct {
	sem  chan struct{}
	refs int
}

func newCompanyLimiter(maxInFlight int) *companyLimiter {
	return &companyLimiter{max: maxInFlight, slots: map[string]*companySlot{}}
}

// acquire takes one of the company's in-flight slots; the returned function gives it back.
func (l *companyLimiter) acquire(ctx context.Context, companyID string) (func(), error) {
	l.mu.Lock()
	slot := l.slots[companyID]
	if slot == nil {
		slot = &companySlot{sem: make(chan struct{}, l.max)}
		l.slots[companyID] = slot
	}
	slot.refs++
	l.mu.Unlock()

	done := func() {
		l.mu.Lock()
		slot.refs--
		if slot.refs == 0 {
			delete(l.slots, companyID)
		}
		l.mu.Unlock()
	}
	select {
	case slot.sem <- struct{}{}:
		return func() { <-slot.sem; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}
