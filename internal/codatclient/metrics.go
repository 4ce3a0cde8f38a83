package codatclient

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names. Labels carry the operation, the status code ("error" when no answer arrived) and
// the API key's fingerprint, never anything secret.
const (
	MetricRequestsTotal      = "codat_client_requests_total"
	MetricRequestDuration    = "codat_client_request_duration_seconds"
	MetricRateLimitRemaining = "codat_client_rate_limit_remaining"
	MetricRateLimitLimit     = "codat_client_rate_limit_limit"
)

// KeyMetricsTTL is how long an API key's rate-limit gauges outlive the last answer Codat sent
// for it. A key the operator no longer uses (rotated, or its objects deleted) drops out of the
// metrics, so that an alert about its quota resolves instead of firing until a restart.
const KeyMetricsTTL = time.Hour

// Metrics are the client's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	keys     *keyGauges
	// Now is the clock of the keys' expiry (default time.Now); tests replace it.
	Now func() time.Time
}

// NewMetrics creates the client's metrics and registers them with reg (the manager passes
// controller-runtime's registry). Several clients may share one Metrics.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRequestsTotal,
			Help: "Requests sent to Codat, by operation and HTTP status code (\"error\" when no response arrived).",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricRequestDuration,
			Help:    "Duration of requests to Codat, by operation.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"operation"}),
	}
	m.keys = &keyGauges{m: m, seen: map[string]keyState{}}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.keys} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) request(op, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(op, code).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
}

func (m *Metrics) rateLimit(rl RateLimit) {
	if m == nil {
		return
	}
	m.keys.observe(rl, m.now())
}

func (m *Metrics) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

var (
	remainingDesc = prometheus.NewDesc(MetricRateLimitRemaining,
		"The last X-Rate-Limit-Remaining Codat sent, per API key (label key: the key's fingerprint); a key unused for an hour drops out.",
		[]string{"key"}, nil)
	limitDesc = prometheus.NewDesc(MetricRateLimitLimit,
		"The last X-Rate-Limit-Limit (the daily quota) Codat sent, per API key (label key: the key's fingerprint); a key unused for an hour drops out.",
		[]string{"key"}, nil)
)

// keyGauges are the rate-limit gauges of the API keys answered for within KeyMetricsTTL.
type keyGauges struct {
	m    *Metrics
	mu   sync.Mutex
	seen map[string]keyState
}

// keyState is what Codat last said about one key's quota (-1: not said) and when.
type keyState struct {
	remaining, limit int
	at               time.Time
}

func (k *keyGauges) observe(rl RateLimit, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.seen[rl.Key]
	if !ok {
		s = keyState{remaining: -1, limit: -1}
	}
	if rl.Remaining >= 0 {
		s.remaining = rl.Remaining
	}
	if rl.Limit >= 0 {
		s.limit = rl.Limit
	}
	s.at = now
	k.seen[rl.Key] = s
}

func (k *keyGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- remainingDesc
	ch <- limitDesc
}

// Collect forgets the keys not answered for within KeyMetricsTTL, then reports the others.
func (k *keyGauges) Collect(ch chan<- prometheus.Metric) {
	now := k.m.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, s := range k.seen {
		if now.Sub(s.at) > KeyMetricsTTL {
			delete(k.seen, key)
			continue
		}
		if s.remaining >= 0 {
			ch <- prometheus.MustNewConstMetric(remainingDesc, prometheus.GaugeValue, float64(s.remaining), key)
		}
		if s.limit >= 0 {
			ch <- prometheus.MustNewConstMetric(limitDesc, prometheus.GaugeValue, float64(s.limit), key)
		}
	}
}

// Fingerprint names the key in metrics and logs without revealing it: the first 8 hex digits of
// the SHA-256 of the Authorization header it is sent as. Two spellings of one key (bare, or
// "Basic <base64>") have the same fingerprint.
func (k APIKey) Fingerprint() string { return k.Digest()[:8] }

// Digest is the hex SHA-256 of the Authorization header the key is sent as: it tells whether the
// key changed without keeping the key. Fingerprint is its start.
func (k APIKey) Digest() string {
	sum := sha256.Sum256([]byte(k.authorization()))
	return hex.EncodeToString(sum[:])
}
