package webhook

import "sync"

// recentCapacity bounds the event ids remembered to drop duplicates: a burst of redeliveries is
// caught; a duplicate older than that costs one reconcile, which re-reads Codat and changes nothing.
const recentCapacity = 10000

// recentIDs remembers the last ids seen, oldest out first.
type recentIDs struct {
	mu   sync.Mutex
	set  map[string]struct{}
	ring []string
	next int
}

// add records id; false when it was already there.
func (r *recentIDs) add(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set == nil {
		r.set = make(map[string]struct{}, recentCapacity)
		r.ring = make([]string, recentCapacity)
	}
	if _, ok := r.set[id]; ok {
		return false
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.set, old)
	}
	r.ring[r.next] = id
	r.next = (r.next + 1) % recentCapacity
	r.set[id] = struct{}{}
	return true
}
