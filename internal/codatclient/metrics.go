package codatclient

import (
	"crypto/sha256"
	"encoding/hex"
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

// Metrics are the client's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	remaining *prometheus.GaugeVec
	limit     *prometheus.GaugeVec
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
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricRateLimitRemaining,
			Help: "The last X-Rate-Limit-Remaining Codat sent, per API key (label key: the key's fingerprint).",
		}, []string{"key"}),
		limit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricRateLimitLimit,
			Help: "The last X-Rate-Limit-Limit (the daily quota) Codat sent, per API key (label key: the key's fingerprint).",
		}, []string{"key"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.remaining, m.limit} {
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
	if rl.Remaining >= 0 {
		m.remaining.WithLabelValues(rl.Key).Set(float64(rl.Remaining))
	}
	if rl.Limit >= 0 {
		m.limit.WithLabelValues(rl.Key).Set(float64(rl.Limit))
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
