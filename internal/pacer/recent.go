package pacer

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
