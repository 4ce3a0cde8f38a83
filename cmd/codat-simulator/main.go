// Command codat-simulator serves a stateful simulator of Codat's company and connection API for
// development, tests and CI. See docs/simulator.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/codat-operator/codat-operator/internal/codatsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "codat-simulator:", err)
		os.Exit(2)
	}
}

// listFlag is a repeatable flag that also accepts comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

type config struct {
	listen      string
	apiKeys     listFlag
	companies   listFlag
	connections []codatsim.SeedConnection
	seed        int64
	linkBaseURL string
	// webhook registers a consumer at start (--webhook-url, --webhook-secret).
	webhook    codatsim.Consumer
	retryScale float64
	dailyQuota int
	perCompany int
}

func parseFlags(args []string, out io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("codat-simulator", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8089", "address to listen on (loopback by default: the /_sim/ admin API has no authentication)")
	fs.Var(&c.apiKeys, "api-key", "API key to accept as 'Authorization: Basic base64(key)'; repeatable or comma-separated (required)")
	fs.Var(&c.companies, "company", "company id (UUID) that exists from the start; repeatable or comma-separated. More via POST /_sim/companies")
	var conns listFlag
	fs.Var(&conns, "connection", "connection that exists from the start, as companyId:connectionId:platformKey[:status] (status PendingAuth by default,\nor Linked, Unlinked, Deauthorized; its company is added); repeatable or comma-separated. More via POST /_sim/companies/{c}/connections")
	fs.Int64Var(&c.seed, "seed", 1, "seed for company and connection ids and random faults (same seed and request order, same results)")
	fs.StringVar(&c.linkBaseURL, "link-base-url", "", "base of the linkUrl of new connections and the redirect of companies, e.g. http://localhost:8089 (default: from each request's Host)")
	fs.StringVar(&c.webhook.URL, "webhook-url", "", "a webhook consumer to register at start: every company, connection and quota event is POSTed there, signed (more via POST /_sim/webhooks)")
	fs.StringVar(&c.webhook.Secret, "webhook-secret", "", "the signing secret of --webhook-url, whsec_ followed by Base64")
	fs.IntVar(&c.dailyQuota, "daily-quota", codatsim.DefaultDailyQuota, "the account's daily quota of requests (X-Rate-Limit-Limit), reset at 00:00 UTC")
	fs.IntVar(&c.perCompany, "quota-per-connected-company", 0, "when set, the daily quota is Codat's: this many requests times one plus the companies with a Linked connection (Codat's is 1000); it replaces --daily-quota")
	fs.Float64Var(&c.retryScale, "webhook-retry-scale", 1, "multiplies Codat's webhook retry schedule (5s, 5m, 30m, 2h, 5h, 10h, 10h); 0.01 for quick local retries")
	fs.Usage = func() {
		fmt.Fprintf(out, `codat-simulator serves a stateful simulator of Codat's company and connection API.

Usage:
  codat-simulator --api-key KEY [--company UUID]... [--connection COMPANY:ID:PLATFORM[:STATUS]]... [flags]

Codat API:  /companies[/{companyId}[/connections[/{connectionId}[/authorization]]]]
Link pages: GET /link/companies/{companyId}/connections/{connectionId}/start (links the connection)
            GET /link/company/{companyId} (a company's redirect: links all its connections)
Admin API:  /_sim/... (companies, faults, counts, webhooks, reset); see docs/simulator.md

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if len(c.apiKeys) == 0 {
		return c, errors.New("at least one --api-key is required")
	}
	if (c.webhook.URL == "") != (c.webhook.Secret == "") {
		return c, errors.New("--webhook-url and --webhook-secret go together")
	}
	for _, v := range conns {
		parts := strings.Split(v, ":")
		if len(parts) < 3 || len(parts) > 4 {
			return c, fmt.Errorf("--connection %q: want companyId:connectionId:platformKey[:status]", v)
		}
		sc := codatsim.SeedConnection{CompanyID: parts[0], ID: parts[1], PlatformKey: parts[2]}
		if len(parts) == 4 {
			sc.Status = parts[3]
		}
		c.connections = append(c.connections, sc)
	}
	if err := codatsim.ValidateConnections(codatsim.Options{Connections: c.connections}); err != nil {
		return c, fmt.Errorf("--connection: %w", err)
	}
	return c, nil
}

// run serves until ctx ends, then shuts down gracefully. ready, if set, gets the bound address.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(addr string)) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.listen)
	if err != nil {
		return err
	}
	// Seeded connections get their linkUrl from --link-base-url, else from the bound address.
	for i := range cfg.connections {
		if cfg.linkBaseURL == "" {
			cfg.connections[i].LinkBaseURL = "http://" + ln.Addr().String()
		}
	}
	sim := codatsim.New(codatsim.Options{
		APIKeys:     cfg.apiKeys,
		Companies:   cfg.companies,
		Connections: cfg.connections,
		Seed:        cfg.seed,
		LinkBaseURL: cfg.linkBaseURL,
		// Retries of webhook deliveries follow Codat's schedule, scaled.
		WebhookRetryScale:        cfg.retryScale,
		DailyQuota:               cfg.dailyQuota,
		QuotaPerConnectedCompany: cfg.perCompany,
		// One line per request. Never the Authorization header or a body.
		OnRequest: func(r codatsim.Request) {
			attrs := []any{"method", r.Method, "path", r.Path, "op", r.Operation, "status", r.StatusCode, "duration", r.Duration.Round(time.Microsecond)}
			if r.Fault != "" {
				attrs = append(attrs, "fault", r.Fault)
			}
			log.Info("request", attrs...)
		},
	})

	defer sim.Close()
	if cfg.webhook.URL != "" {
		if _, err := sim.AddConsumer(cfg.webhook); err != nil {
			return fmt.Errorf("--webhook-url: %w", err)
		}
	}

	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	log.Info("codat simulator listening", "addr", ln.Addr().String(), "apiKeys", len(cfg.apiKeys), "companies", len(sim.Companies()), "connections", len(cfg.connections), "seed", cfg.seed)
	if ready != nil {
		ready(ln.Addr().String())
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
