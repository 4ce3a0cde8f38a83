package budget

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names. Each series is labelled with the API key's fingerprint (key), never the key.
const (
	// MetricMode is each key's mode: 0 normal, 1 stretched, 2 writes only.
	MetricMode = "codat_requests_budget_mode"
	// MetricProjected is the polls a day the tracked objects make at their planned intervals.
	MetricProjected = "codat_requests_budget_projected_polls_per_day"
	// MetricShare is the operator's share of the daily quota, in requests.
	MetricShare = "codat_requests_budget_share_per_day"
)

var (
	modeDesc = prometheus.NewDesc(MetricMode,
		"How the operator's polls go for each API key: 0 at their intervals, 1 stretched to stay within the operator's share of Codat's daily quota, 2 only writes until the quota resets.",
		[]string{"key"}, nil)
	projectedDesc = prometheus.NewDesc(MetricProjected,
		"Polls a day the operator's objects make on each API key at their planned (possibly stretched) intervals.",
		[]string{"key"}, nil)
	shareDesc = prometheus.NewDesc(MetricShare,
		"The operator's share of each API key's daily quota (--codat-quota-share times X-Rate-Limit-Limit), in requests.",
		[]string{"key"}, nil)
)

// UnusedKeyTTL is how long the budget remembers an API key that no object polls with and Codat
// has not answered for: after a key rotation the old key's series leave the metrics (and an alert
// on its mode stops) without a restart.
const UnusedKeyTTL = time.Hour

// Register makes the budget's metrics part of reg; they are computed when scraped, and a scrape
// forgets the keys unused for UnusedKeyTTL.
func (b *Budget) Register(reg prometheus.Registerer) error { return reg.Register(collector{b}) }

type collector struct{ b *Budget }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- modeDesc
	ch <- projectedDesc
	ch <- shareDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.opts.Now()
	for key, a := range b.accounts {
		if a.tracked == 0 && now.Sub(a.lastUsed) > UnusedKeyTTL {
			delete(b.accounts, key) // a rotated-out key; a later answer starts it afresh
			continue
		}
		p := b.planLocked(a)
		// A day of steady polls at the planned intervals, and the early polls still to come.
		projected := 0.0
		if p.Mode != WritesOnly {
			if f := p.Factor[Settled]; !math.IsInf(f, 1) {
				projected += a.rate * 86400 / math.Max(f, 1)
			}
			projected += a.extra / math.Max(p.Factor[Waiting], 1)
		}
		ch <- prometheus.MustNewConstMetric(modeDesc, prometheus.GaugeValue, float64(p.Mode), key)
		ch <- prometheus.MustNewConstMetric(projectedDesc, prometheus.GaugeValue, projected, key)
		ch <- prometheus.MustNewConstMetric(shareDesc, prometheus.GaugeValue, b.opts.Share*float64(a.limit), key)
	}
}
