package pacer

import (
	"testing"
)

const conn = "conn-1"

// News from Codat's webhooks asks for a look only when it may tell the object something: the echo
// of the operator's own create, unlink or delete costs nothing, whatever the cache shows; news that
// arrives while a pass runs is compared with what the pass concludes, not with what it started from.
func TestNews(t *testing.T) {
	linked := News{Connection: conn, Status: "Linked"}
	unlinked := News{Connection: conn, Status: "Unlinked"}
	pending := News{Connection: conn, Status: "PendingAuth"}
	for _, tc := range []struct {
		name string
		// run plays the case and returns whether the object looked (the pacer asked the queue).
		run      func(w *world) bool
		wantLook bool
	}{
		{"the echo of the operator's own unlink, before the cache shows it", func(w *world) bool {
			w.pass("o", Outcome{Result: Realized, Key: key, Connection: conn, Status: "Unlinked"})
			return w.p.Heard(name("o"), unlinked, "Linked")
		}, false},
		{"a change made in Codat", func(w *world) bool {
			w.pass("o", Outcome{Result: Realized, Key: key, Connection: conn, Status: "Unlinked"})
			return w.p.Heard(name("o"), linked, "Unlinked")
		}, true},
		{"news of an object no pass has seen since a start, that the cache already shows", func(w *world) bool {
			return w.p.Heard(name("o"), linked, "Linked")
		}, false},
		{"a failed attempt to link leaves the status as it was, but needs a look", func(w *world) bool {
			w.pass("o", Outcome{Result: Realized, Key: key, Connection: conn, Status: "PendingAuth"})
			return w.p.Heard(name("o"), News{Connection: conn, Status: "PendingAuth", Failed: true}, "PendingAuth")
		}, true},
		{"unlinked and linked again while the read of the first change is in flight", func(w *world) bool {
			w.p.Begin(name("o"), Facts{Company: "c", Connection: conn})
			w.p.Heard(name("o"), unlinked, "Linked")
			w.p.Heard(name("o"), linked, "Linked")
			// The read answers what Codat said before the second change.
			again := w.p.End(name("o"), Outcome{Result: Realized, Key: key, Connection: conn, Status: "Unlinked"}).Again
			// The look it asks for is not a routine one, whose poll is an interval away.
			if skip, _ := w.p.Begin(name("o"), Facts{Routine: true, Company: "c", Connection: conn}); skip {
				w.t.Fatal("the look after the missed news was skipped as not due")
			}
			return again
		}, true},
		{"news during a pass that says what the pass concluded", func(w *world) bool {
			w.p.Begin(name("o"), Facts{Company: "c", Connection: conn})
			w.p.Heard(name("o"), unlinked, "Linked")
			return w.p.End(name("o"), Outcome{Result: Realized, Key: key, Connection: conn, Status: "Unlinked"}).Again
		}, false},
		{"the echo of a create, before the create's answer", func(w *world) bool {
			w.p.Begin(name("new"), Facts{Company: "c"})
			if !w.p.HeardUnknown("c", pending) {
				w.t.Fatal("the news was not kept for the create in flight")
			}
			return w.p.End(name("new"), Outcome{Result: Realized, Key: key, Connection: conn, Status: "PendingAuth"}).Again
		}, false},
		{"a link reported before the create's answer", func(w *world) bool {
			w.p.Begin(name("new"), Facts{Company: "c"})
			w.p.HeardUnknown("c", linked)
			return w.p.End(name("new"), Outcome{Result: Realized, Key: key, Connection: conn, Status: "PendingAuth"}).Again
		}, true},
		{"news of another company's connection during a create", func(w *world) bool {
			w.p.Begin(name("new"), Facts{Company: "c"})
			w.p.HeardUnknown("c", News{Connection: "conn-of-someone-else", Status: "Linked"})
			return w.p.End(name("new"), Outcome{Result: Realized, Key: key, Connection: conn, Status: "PendingAuth"}).Again
		}, false},
		{"news of a connection no object manages and no create awaits", func(w *world) bool {
			return w.p.HeardUnknown("c", linked)
		}, false},
		{"the echo of the operator's own delete", func(w *world) bool {
			w.pass("o", Outcome{Result: Realized, Key: key, Connection: conn, Status: "Linked"})
			w.p.End(name("o"), Outcome{Result: Gone, Key: key, Connection: conn})
			return w.p.Heard(name("o"), News{Connection: conn, Deleted: true}, "Linked")
		}, false},
		{"a connection deleted in Codat", func(w *world) bool {
			w.pass("o", Outcome{Result: Realized, Key: key, Connection: conn, Status: "Linked"})
			return w.p.Heard(name("o"), News{Connection: conn, Deleted: true}, "Linked")
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, nil)
			looked := tc.run(w)
			queued := w.queue.take(name("o"))
			queued = append(queued, w.queue.take(name("new"))...)
			if looked != tc.wantLook {
				t.Fatalf("looked %t, want %t", looked, tc.wantLook)
			}
			if tc.wantLook && (len(queued) != 1 || queued[0] != (look{0, Event})) {
				t.Fatalf("the queue got %v, want one look now as an event", queued)
			}
			if !tc.wantLook && len(queued) != 0 {
				t.Fatalf("the queue got %v, want no look", queued)
			}
		})
	}
}

// The pacer knows which object manages a connection from the moment a pass concludes it, before
// the cache shows it, and forgets it with the object.
func TestManaging(t *testing.T) {
	w := newWorld(t, nil)
	w.pass("o", Outcome{Result: Realized, Key: key, Connection: conn, Status: "PendingAuth"})
	if got, ok := w.p.Managing(conn); !ok || got != name("o") {
		t.Fatalf("Managing(%s) = %v, %t", conn, got, ok)
	}
	w.p.Forget(name("o"))
	if _, ok := w.p.Managing(conn); ok {
		t.Fatal("a forgotten object still manages the connection")
	}
}
