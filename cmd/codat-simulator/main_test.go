package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHelpDocumentsFlags(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"--help"}, &out, nil)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"-listen", "127.0.0.1:8089", "-api-key", "-company", "-seed", "-link-base-url", "/_sim/"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		keys      []string
		companies []string
		wantErr   bool
	}{
		{"repeated and comma-separated", []string{"--api-key", "a,b", "--api-key=c", "--company", "x", "--company", "y, z"},
			[]string{"a", "b", "c"}, []string{"x", "y", "z"}, false},
		{"no key", []string{"--company", "x"}, nil, nil, true},
		{"stray argument", []string{"--api-key", "a", "extra"}, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseFlags(tt.args, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (strings.Join(cfg.apiKeys, ",") != strings.Join(tt.keys, ",") || strings.Join(cfg.companies, ",") != strings.Join(tt.companies, ",")) {
				t.Fatalf("cfg = %+v", cfg)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServesLogsAndShutsDown(t *testing.T) {
	const company = "8a210b68-6988-41ed-a1eb-0242ac120002"
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--api-key", "secret-key", "--company", company}, &logs, func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}

	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/companies/"+company+"/connections", http.NoBody)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("secret-key")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no graceful shutdown")
	}
	out := logs.String()
	if !strings.Contains(out, "op=list-connections") || !strings.Contains(out, "status=200") || !strings.Contains(out, "path=/companies/") {
		t.Fatalf("request not logged:\n%s", out)
	}
	if strings.Contains(out, "secret-key") || strings.Contains(out, base64.StdEncoding.EncodeToString([]byte("secret-key"))) {
		t.Fatalf("log contains the key:\n%s", out)
	}
}

func TestConnectionFlag(t *testing.T) {
	const (
		company = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
		connID  = "3f0c2a7e-9b1d-4c55-8e21-6a7d0b9c1e42"
	)
	for _, bad := range [][]string{
		{"--connection", company + ":" + connID},                    // no platform
		{"--connection", company + ":" + connID + ":zzzz"},          // unknown platform
		{"--connection", company + ":" + connID + ":mqjo:Linkd"},    // unknown status
		{"--connection", company + ":" + connID + ":mqjo:Linked:x"}, // too many parts
	} {
		if _, err := parseFlags(append([]string{"--api-key", "k"}, bad...), io.Discard); err == nil {
			t.Errorf("parseFlags(%v) accepted", bad)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--api-key", "k", "--connection", company + ":" + connID + ":mqjo:Linked,other:c2:gbol"},
			io.Discard, func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	resp, err := http.Get("http://" + addr + "/_sim/companies/" + company + "/connections")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var conns []struct{ ID, Status, LinkURL string }
	if err := json.NewDecoder(resp.Body).Decode(&conns); err != nil {
		t.Fatal(err)
	}
	wantLink := "http://" + addr + "/link/companies/" + company + "/connections/" + connID + "/start"
	if len(conns) != 1 || conns[0].ID != connID || conns[0].Status != "Linked" || conns[0].LinkURL != wantLink {
		t.Fatalf("seeded connections %+v, want %s Linked with linkUrl %s", conns, connID, wantLink)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
