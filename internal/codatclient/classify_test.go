package codatclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codat-operator/codat-operator/internal/codatapi"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

const connX = "3f0c2a7e-9b1d-4c55-8e21-6a7d0b9c1e42"

// respond answers every request with the status and body.
func respond(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// hangUp closes the connection after writing head (nothing when empty), without a whole answer.
func hangUp(t *testing.T, head string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		_, _ = buf.WriteString(head)
		_ = buf.Flush()
		_ = conn.Close()
	}
}

// TestEveryFailureIsClassified drives every kind of failure the client can produce through a real
// HTTP exchange (or none, where the client refuses to send) and checks what kind it is and who can
// fix it. docs/conditions.md lists the same classes for users.
func TestEveryFailureIsClassified(t *testing.T) {
	type call func(ctx context.Context, c *codatclient.Client) error
	get := func(ctx context.Context, c *codatclient.Client) error {
		_, err := c.GetConnection(ctx, testKey, companyA, connX)
		return err
	}
	list := func(ctx context.Context, c *codatclient.Client) error {
		_, err := c.ListConnections(ctx, testKey, companyA)
		return err
	}
	withKey := func(key codatclient.APIKey) call {
		return func(ctx context.Context, c *codatclient.Client) error {
			_, err := c.GetConnection(ctx, key, companyA, connX)
			return err
		}
	}
	type row struct {
		name    string
		handler http.HandlerFunc // nil: no server is reachable at the URL
		tls     bool             // serve over TLS with a certificate the client does not trust
		call    call             // default get
		cancel  bool             // the caller's context is cancelled during the call
		kind    codatclient.Kind
		class   codatclient.Class
		noCall  bool // the client must refuse without sending
		timeout time.Duration
	}
	rows := []row{
		// No answer at all.
		{name: "connection refused", kind: codatclient.KindNetwork, class: codatclient.Transient},
		{name: "connection closed without an answer", handler: hangUp(t, ""), kind: codatclient.KindNetwork, class: codatclient.Transient},
		{name: "connection closed mid-body", handler: hangUp(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"id\":"), kind: codatclient.KindNetwork, class: codatclient.Transient},
		{name: "no answer before the timeout", handler: func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			timeout: 200 * time.Millisecond, kind: codatclient.KindTimeout, class: codatclient.Transient},
		{name: "certificate from an unknown authority", handler: respond(200, `{"id":"`+connX+`"}`), tls: true,
			kind: codatclient.KindTLS, class: codatclient.Transient},
		{name: "caller cancelled", handler: func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, cancel: true,
			kind: codatclient.KindCanceled, class: codatclient.Canceled},

		// A 2xx that is not what it claims.
		{name: "200 with an empty body", handler: respond(200, ""), kind: codatclient.KindBadResponse, class: codatclient.Transient},
		{name: "200 with white space only", handler: respond(200, " \n"), kind: codatclient.KindBadResponse, class: codatclient.Transient},
		{name: "200 with truncated JSON", handler: respond(200, `{"id":"`+connX), kind: codatclient.KindBadResponse, class: codatclient.Transient},
		{name: "200 with HTML", handler: respond(200, "<html>maintenance</html>"), kind: codatclient.KindBadResponse, class: codatclient.Transient},
		{name: "200 with JSON null", handler: respond(200, "null"), kind: codatclient.KindBadResponse, class: codatclient.Transient},
		{name: "200 with an empty object", handler: respond(200, "{}"), kind: codatclient.KindBadResponse, class: codatclient.Transient},
		{name: "200 with a JSON array", handler: respond(200, "[]"), kind: codatclient.KindBadResponse, class: codatclient.Transient},
		{name: "200 with another connection", handler: respond(200, `{"id":"00000000-0000-4000-8000-000000000000"}`),
			kind: codatclient.KindBadResponse, class: codatclient.Transient},
		{name: "204 to a read", handler: respond(204, ""), kind: codatclient.KindBadResponse, class: codatclient.Transient},
		{name: "200 larger than the client reads", handler: respond(200, `{"id":"`+connX+`","x":"`+strings.Repeat("a", 16<<20)+`"}`),
			kind: codatclient.KindBadResponse, class: codatclient.Transient},
		{name: "list result without an id", call: list, handler: respond(200, `{"results":[{"status":"Linked"}],"pageNumber":1,"pageSize":100,"totalResults":1,"_links":{}}`),
			kind: codatclient.KindBadResponse, class: codatclient.Transient},
		{name: "list whose next link leads back", call: list, handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = fmt.Fprintf(w, `{"results":[{"id":"%s"}],"pageNumber":1,"pageSize":1,"totalResults":9,"_links":{"next":{"href":%q}}}`, connX, r.URL.RequestURI())
		}, kind: codatclient.KindBadResponse, class: codatclient.Transient},
		{name: "list whose next link is another host", call: list, handler: respond(200,
			`{"results":[{"id":"`+connX+`"}],"pageNumber":1,"pageSize":1,"totalResults":9,"_links":{"next":{"href":"https://elsewhere.example/companies"}}}`),
			kind: codatclient.KindBadResponse, class: codatclient.Transient},

		// The client refuses to send.
		{name: "API key with a line break", call: withKey("sk-abc\ndef"), noCall: true, kind: codatclient.KindInvalidAPIKey, class: codatclient.NeedsPerson},
		{name: "API key with a control character", call: withKey("sk-abc\x00def"), noCall: true, kind: codatclient.KindInvalidAPIKey, class: codatclient.NeedsPerson},
		{name: "API key with a space inside", call: withKey("sk abc"), noCall: true, kind: codatclient.KindInvalidAPIKey, class: codatclient.NeedsPerson},
		{name: "API key with non-ASCII", call: withKey("sk-abcé"), noCall: true, kind: codatclient.KindInvalidAPIKey, class: codatclient.NeedsPerson},
		{name: "Basic header that is not Base64", call: withKey("Basic not base64!"), noCall: true, kind: codatclient.KindInvalidAPIKey, class: codatclient.NeedsPerson},
		{name: "empty API key", call: withKey("  "), noCall: true, kind: codatclient.KindInvalidAPIKey, class: codatclient.NeedsPerson},
		{name: "empty connection id", call: func(ctx context.Context, c *codatclient.Client) error {
			_, err := c.GetConnection(ctx, testKey, companyA, "")
			return err
		}, noCall: true, kind: codatclient.KindInvalidRequest, class: codatclient.NeedsPerson},
		{name: "authorization value that is not UTF-8", call: func(ctx context.Context, c *codatclient.Client) error {
			_, err := c.UpdateAuthorization(ctx, testKey, companyA, connX, map[string]string{"token": "ab\xffcd"})
			return err
		}, noCall: true, kind: codatclient.KindInvalidRequest, class: codatclient.NeedsPerson},
	}
	// Every status Codat documents, and the rest of HTTP's, by what they mean.
	for code, class := range map[int]codatclient.Class{
		300: codatclient.NeedsPerson, 304: codatclient.NeedsPerson,
		400: codatclient.NeedsPerson, 401: codatclient.NeedsPerson, 402: codatclient.NeedsPerson, 403: codatclient.NeedsPerson,
		404: codatclient.NeedsPerson, 405: codatclient.NeedsPerson, 406: codatclient.NeedsPerson, 409: codatclient.NeedsPerson,
		410: codatclient.NeedsPerson, 413: codatclient.NeedsPerson, 415: codatclient.NeedsPerson, 422: codatclient.NeedsPerson,
		451: codatclient.NeedsPerson, 501: codatclient.NeedsPerson, 505: codatclient.NeedsPerson,
		408: codatclient.Transient, 423: codatclient.Transient, 425: codatclient.Transient, 429: codatclient.Transient,
		500: codatclient.Transient, 502: codatclient.Transient, 503: codatclient.Transient, 504: codatclient.Transient,
		599: codatclient.Transient,
	} {
		rows = append(rows, row{name: fmt.Sprintf("HTTP %d", code), handler: respond(code, `{"statusCode":0,"error":"simulated"}`),
			kind: codatclient.KindHTTP, class: class})
		if got := codatclient.StatusClass(code); got != class {
			t.Errorf("StatusClass(%d) = %s, want %s", code, got, class)
		}
	}

	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			url := "http://127.0.0.1:1" // nothing listens on port 1
			if tt.handler != nil {
				h := func(w http.ResponseWriter, r *http.Request) { calls.Add(1); tt.handler(w, r) }
				var srv *httptest.Server
				if tt.tls {
					srv = httptest.NewTLSServer(http.HandlerFunc(h))
				} else {
					srv = httptest.NewServer(http.HandlerFunc(h))
				}
				defer srv.Close()
				url = srv.URL
			}
			o := fastOptions(url)
			o.Timeout = 20 * time.Second
			if tt.timeout > 0 {
				o.Timeout = tt.timeout
			}
			c := newClient(t, o)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			do := tt.call
			if do == nil {
				do = get
			}
			err := do(ctx, c)
			var cerr *codatclient.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("error %T %v is not a *codatclient.Error", err, err)
			}
			if cerr.Kind != tt.kind {
				t.Errorf("kind %q, want %q (%v)", cerr.Kind, tt.kind, err)
			}
			if got := codatclient.ClassOf(err); got != tt.class {
				t.Errorf("class %q, want %q (%v)", got, tt.class, err)
			}
			if got := codatclient.IsRetryable(err); got != (tt.class == codatclient.Transient) {
				t.Errorf("IsRetryable = %v for class %s", got, tt.class)
			}
			if n := calls.Load(); tt.noCall && n != 0 {
				t.Errorf("the client sent %d requests; it must refuse without sending", n)
			}
		})
	}
}

func TestForeignErrorsNeedAPerson(t *testing.T) {
	if got := codatclient.ClassOf(errors.New("not from the client")); got != codatclient.NeedsPerson {
		t.Fatalf("class %s", got)
	}
}

// TestAPIKeyForms: the key as Codat's portal shows it, or the whole header value in any case of
// "Basic", is sent as Codat expects.
func TestAPIKeyForms(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		_, _ = fmt.Fprintf(w, `{"id":%q}`, connX)
	}))
	defer srv.Close()
	c := newClient(t, fastOptions(srv.URL))
	for key, want := range map[codatclient.APIKey]string{
		"sk-abc":               "Basic c2stYWJj",
		"  sk-abc\n":           "Basic c2stYWJj",
		"Basic c2stYWJj":       "Basic c2stYWJj",
		"basic c2stYWJj":       "Basic c2stYWJj",
		"BASIC   c2stYWJj  \n": "Basic c2stYWJj",
	} {
		if err := key.Validate(); err != nil {
			t.Errorf("a usable key was refused: %v", err)
		}
		if _, err := c.GetConnection(context.Background(), key, companyA, connX); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Authorization %q, want %q", got, want)
		}
	}
	if codatclient.APIKey("sk-abc").Fingerprint() != codatclient.APIKey("Basic c2stYWJj").Fingerprint() {
		t.Error("two spellings of one key have different fingerprints")
	}
}

// TestAPIKeyValidationNeverQuotesTheKey: the reason a key is refused goes into conditions.
func TestAPIKeyValidationNeverQuotesTheKey(t *testing.T) {
	for _, key := range []string{"sk-SECRET\nline", "Basic SECRET!!", "sk-SECRET\x01", "sk SECRET", "sk-SECRETé"} {
		err := codatclient.APIKey(key).Validate()
		if err == nil {
			t.Fatalf("%q accepted", key)
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("the reason quotes the key: %v", err)
		}
	}
}

// Whatever the options say, the client never sends more than CeilingPerMinute in a minute: under
// Codat's per-IP limit, past which Codat may block the address.
func TestPerIPCeilingHoldsWhateverTheOptions(t *testing.T) {
	for _, o := range []struct {
		rps   float64
		burst int
	}{{0, 0}, {15, 20}, {16, 10}, {50, 20}, {1000, 5000}, {1, 5000}, {15.5, 21}} {
		c := newClient(t, codatclient.Options{BaseURL: "http://127.0.0.1:1", RequestsPerSecond: o.rps, Burst: o.burst})
		rps, burst := c.Limits()
		if perMinute := rps*60 + float64(burst); perMinute > codatclient.CeilingPerMinute {
			t.Errorf("options %v/s burst %d: the client allows %.0f a minute", o.rps, o.burst, perMinute)
		}
		asked := o.rps*60 + float64(o.burst)
		if (c.Adjusted() != "") != (asked > codatclient.CeilingPerMinute) {
			t.Errorf("options %v/s burst %d: adjusted %q", o.rps, o.burst, c.Adjusted())
		}
	}
	if codatclient.CeilingPerMinute >= codatclient.MaxRequestsPerMinute {
		t.Fatal("the ceiling leaves no margin under Codat's limit")
	}

	// Counted in the simulator: a client asked for 1,000 a second sends at most its burst plus its
	// rate in a window.
	sim, srv := startSim(t)
	c := newClient(t, codatclient.Options{BaseURL: srv.URL, RequestsPerSecond: 1000, Burst: 5000})
	rps, burst := c.Limits()
	const window = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				_, _ = c.ListConnections(ctx, testKey, companyA)
			}
		})
	}
	wg.Wait()
	sent := sim.Count(codatapi.OpListConnections)
	if most := float64(burst) + rps*window.Seconds() + 1; float64(sent) > most {
		t.Fatalf("%d requests in %s, want at most %.0f (burst %d + %.2f/s)", sent, window, most, burst, rps)
	}
	if sent < 10 {
		t.Fatalf("only %d requests in %s: the test proves nothing", sent, window)
	}
}
