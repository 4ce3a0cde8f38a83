package access

import (
	"context"
	"sync"
	"time"
)

// TagTTL is how long a company's tags are trusted: the tag check costs at most one Codat call per
// company per TagTTL, however many objects and passes ask.
const TagTTL = time.Hour

// TagCache remembers Codat companies' tags. Safe for concurrent use; concurrent misses for one
// company make one call.
type TagCache struct {
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu      sync.Mutex
	entries map[string]*tagEntry
}

type tagEntry struct {
	ready   chan struct{} // closed when the fetch ended
	tags    map[string]string
	err     error
	fetched time.Time
}

// Tags returns the company's tags, from memory when fetched less than TagTTL ago, else by fetch.
// A failed fetch is not remembered.
func (c *TagCache) Tags(ctx context.Context, companyID string, fetch func(context.Context) (map[string]string, error)) (map[string]string, error) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*tagEntry{}
	}
	e, ok := c.entries[companyID]
	if ok {
		select {
		case <-e.ready:
			if e.err != nil || now().Sub(e.fetched) >= TagTTL {
				ok = false
			}
		default: // another pass is fetching it: wait for that answer
		}
	}
	if !ok {
		e = &tagEntry{ready: make(chan struct{})}
		c.entries[companyID] = e
		c.mu.Unlock()
		e.tags, e.err = fetch(ctx)
		e.fetched = now()
		close(e.ready)
		return e.tags, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.ready:
		return e.tags, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
