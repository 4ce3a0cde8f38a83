package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// Server serves the Receiver on its own address, over TLS when a certificate folder is given (the
// certificate is reloaded when it changes). It runs on every replica; the receiver's Service routes
// to the leader (LeaderPod), and a replica that is not the leader answers 503, for Codat to retry,
// to what reaches it during a hand-over. Failing to listen does not stop the manager: polling is
// the fallback, and Healthy says so.
type Server struct {
	Addr string
	// CertDir holds tls.crt and tls.key; empty serves plain HTTP (TLS ends at an Ingress).
	CertDir  string
	Receiver *Receiver
	Log      logr.Logger
	// OnListening is called with the bound address once the server listens (tests use ":0").
	OnListening func(addr string)

	listening atomic.Bool
}

// retryListen is how long the server waits before trying to listen again.
const retryListen = 10 * time.Second

// Healthy says whether deliveries can be verified and acted on: the server listens and a signing
// secret is loaded.
func (s *Server) Healthy() bool { return s.listening.Load() && s.Receiver.Secrets.Count() > 0 }

// NeedLeaderElection is false: every replica answers, so that Codat's deliveries are not refused
// while a new leader takes over.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.Handle(Path, s.Receiver)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	if s.CertDir != "" {
		watcher, err := certwatcher.New(filepath.Join(s.CertDir, "tls.crt"), filepath.Join(s.CertDir, "tls.key"))
		if err != nil {
			return err
		}
		go func() { _ = watcher.Start(ctx) }()
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: watcher.GetCertificate,
			NextProtos: []string{"http/1.1"}}
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	for ctx.Err() == nil {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.Addr)
		if err != nil {
			s.Log.Error(err, "the webhook receiver cannot listen; polling at the normal intervals meanwhile", "address", s.Addr)
			select {
			case <-ctx.Done():
			case <-time.After(retryListen):
			}
			continue
		}
		if s.CertDir != "" {
			ln = tls.NewListener(ln, srv.TLSConfig)
		}
		s.Log.Info("webhook receiver listening", "address", ln.Addr().String(), "path", Path, "tls", s.CertDir != "")
		s.listening.Store(true)
		if s.OnListening != nil {
			s.OnListening(ln.Addr().String())
		}
		err = srv.Serve(ln)
		s.listening.Store(false)
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		s.Log.Error(err, "the webhook receiver stopped; polling at the normal intervals until it listens again")
	}
	return nil
}
