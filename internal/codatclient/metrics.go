package codatclient

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metric names, registered once with controller-runtime's registry. Labels carry only the
// operation and the status code ("error" for transport failures), never anything secret.
const (
	MetricRequestsTotal      = "codat_client_requests_total"
	MetricRequestDuration    = "codat_client_request_duration_seconds"
	MetricRateLimitRemaining = "codat_client_rate_limit_remaining"
)

var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricRequestsTotal,
		Help: "Requests sent to Codat, by operation and HTTP status code (\"error\" when no response arrived).",
	}, []string{"operation", "code"})
	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    MetricRequestDuration,
		Help:    "Duration of requests to Codat, by operation.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"operation"})
	rateLimitRemaining = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: MetricRateLimitRemaining,
		Help: "The last X-Rate-Limit-Remaining header Codat sent.",
	})
)

func init() {
	metrics.Registry.MustRegister(requestsTotal, requestDuration, rateLimitRemaining)
}

func observe(op, code string, d time.Duration) {
	requestsTotal.WithLabelValues(op, code).Inc()
	requestDuration.WithLabelValues(op).Observe(d.Seconds())
}

func observeRateLimitRemaining(v string) {
	if v == "" {
		return
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		rateLimitRemaining.Set(n)
	}
}
