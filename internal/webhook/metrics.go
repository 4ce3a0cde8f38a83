package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names.
const (
	MetricEventsTotal      = "codat_webhook_events_total"
	MetricEventToReconcile = "codat_webhook_event_to_reconcile_seconds"
	MetricReceiverHealthy  = "codat_webhook_receiver_healthy"
)

// Metrics are the receiver's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	events  *prometheus.CounterVec
	latency prometheus.Histogram
	healthy prometheus.Gauge
}

// NewMetrics creates the receiver's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricEventsTotal,
			Help: "Codat webhook deliveries, by event type and result (accepted: acted on; ignored: valid but about no object, a duplicate, or not ready; rejected: bad signature, method, type or body).",
		}, []string{"type", "result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: MetricEventToReconcile,
			Help: "Time from receiving a webhook to the start of the reconcile it caused.",
			// Up to minutes: a burst of events waits behind the client's rate limit.
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}),
		healthy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricReceiverHealthy,
			Help: "1 while the webhook receiver listens with a signing secret loaded (polling is then the safety net); 0 otherwise (normal polling).",
		}),
	}
	for _, c := range []prometheus.Collector{m.events, m.latency, m.healthy} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) event(eventType, result string) {
	if m != nil {
		m.events.WithLabelValues(eventType, result).Inc()
	}
}

// ObserveLatency records the time from an event's receipt to the reconcile it caused.
func (m *Metrics) ObserveLatency(d time.Duration) {
	if m != nil {
		m.latency.Observe(d.Seconds())
	}
}

// SetHealthy records whether the receiver is healthy.
func (m *Metrics) SetHealthy(ok bool) {
	if m == nil {
		return
	}
	v := 0.0
	if ok {
		v = 1
	}
	m.healthy.Set(v)
}
