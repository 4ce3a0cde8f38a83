package controller

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// Metric names of the reconciler (docs/operations.md, "Metrics").
const (
	// MetricConnections counts CodatConnections by Codat's status and Ready's reason.
	MetricConnections = "codat_connections"
	// MetricStalled counts Stalled CodatConnections by reason.
	MetricStalled = "codat_connections_stalled"
	// MetricFailures counts failed reconciles by class and reason.
	MetricFailures = "codat_reconcile_failures_total"
	// MetricAwaitingMax is, per namespace, how long the connection that has waited longest for
	// its business to authorize has waited.
	MetricAwaitingMax = "codat_connections_awaiting_authorization_max_seconds"
	// MetricCompanies counts CodatCompanies by namespace and Ready's status and reason.
	MetricCompanies = "codat_companies"
	// MetricCompaniesStalled counts Stalled CodatCompanies by namespace and reason.
	MetricCompaniesStalled = "codat_companies_stalled"
)

// Metrics are the reconciler's own metrics. A nil *Metrics records nothing.
type Metrics struct {
	failures *prometheus.CounterVec
}

// NewMetrics registers the reconciler's metrics with reg: the failure counter,
// and gauges of the objects in reader (the manager's cache), CodatConnections
// and CodatCompanies, counted when scraped.
func NewMetrics(reg prometheus.Registerer, reader client.Reader) (*Metrics, error) {
	m := &Metrics{failures: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricFailures,
		Help: "Reconciles that ended in a failure the object shows, by class (transient: retried with backoff; needs-person: Stalled until something changes) and condition reason.",
	}, []string{"class", "reason"})}
	if err := reg.Register(m.failures); err != nil {
		return nil, err
	}
	if err := reg.Register(connectionsCollector{reader: reader}); err != nil {
		return nil, err
	}
	if err := reg.Register(companiesCollector{reader: reader}); err != nil {
		return nil, err
	}
	return m, nil
}

// failed counts one failed pass.
func (m *Metrics) failed(class codatclient.Class, reason string) {
	if m != nil {
		m.failures.WithLabelValues(string(class), reason).Inc()
	}
}

// The gauges of the objects carry their namespace: a platform team sees which tenant is stuck.
// Behind a ServiceMonitor (honorLabels false, its default) Prometheus stores the label as
// exported_namespace, since namespace is the scraped pod's.
var (
	connectionsDesc = prometheus.NewDesc(MetricConnections,
		"CodatConnections by namespace, the status Codat reports (connection_status; empty before the first create), and the status and reason of their Ready condition (ready, ready_reason).",
		[]string{"namespace", "connection_status", "ready", "ready_reason"}, nil)
	stalledDesc = prometheus.NewDesc(MetricStalled,
		"CodatConnections that are Stalled (only a person can unblock them), by namespace and the Stalled condition's reason.",
		[]string{"namespace", "reason"}, nil)
	awaitingDesc = prometheus.NewDesc(MetricAwaitingMax,
		"Per namespace, how long the CodatConnection that has waited longest for its business to authorize (Ready=False, AwaitingAuthorization or LinkFailed) has waited, from its Ready condition's last transition.",
		[]string{"namespace"}, nil)
)

// connectionsCollector counts the cached objects at each scrape: no state to
// keep in step with the objects, and the labels are bounded by the cluster's
// namespaces, Codat's few statuses and the operator's reasons.
type connectionsCollector struct {
	reader client.Reader
	// now is the clock (nil: time.Now).
	now func() time.Time
}

func (c connectionsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- connectionsDesc
	ch <- stalledDesc
	ch <- awaitingDesc
}

func (c connectionsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var list codatv1.CodatConnectionList
	// Read-only, so the cache's own objects do: no copy of every object per scrape.
	if err := c.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(connectionsDesc, err)
		return
	}
	type group struct{ namespace, status, ready, reason string }
	type stall struct{ namespace, reason string }
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	byGroup, stalled, awaiting := map[group]int{}, map[stall]int{}, map[string]time.Duration{}
	for i := range list.Items {
		o := &list.Items[i]
		conds := o.Status.Conditions
		g := group{namespace: o.Namespace, status: o.Status.ConnectionStatus}
		if ready := meta.FindStatusCondition(conds, codatv1.ConditionReady); ready != nil {
			g.ready, g.reason = string(ready.Status), ready.Reason
			if ready.Status == metav1.ConditionFalse && (ready.Reason == codatv1.ReasonAwaitingAuthorization || ready.Reason == codatv1.ReasonLinkFailed) {
				if waited := now().Sub(ready.LastTransitionTime.Time); waited > awaiting[o.Namespace] {
					awaiting[o.Namespace] = waited
				}
			}
		}
		byGroup[g]++
		if s := meta.FindStatusCondition(conds, codatv1.ConditionStalled); s != nil && s.Status == metav1.ConditionTrue {
			stalled[stall{o.Namespace, s.Reason}]++
		}
	}
	for g, n := range byGroup {
		ch <- prometheus.MustNewConstMetric(connectionsDesc, prometheus.GaugeValue, float64(n), g.namespace, g.status, g.ready, g.reason)
	}
	for s, n := range stalled {
		ch <- prometheus.MustNewConstMetric(stalledDesc, prometheus.GaugeValue, float64(n), s.namespace, s.reason)
	}
	for ns, waited := range awaiting {
		ch <- prometheus.MustNewConstMetric(awaitingDesc, prometheus.GaugeValue, waited.Seconds(), ns)
	}
}

// The gauges of CodatCompanies list them from the manager's cache, which watches them.
// +kubebuilder:rbac:groups=codat.io,resources=codatcompanies,verbs=get;list;watch

var (
	companiesDesc = prometheus.NewDesc(MetricCompanies,
		"CodatCompanies by namespace and the status and reason of their Ready condition (ready, ready_reason; empty before the operator's first pass).",
		[]string{"namespace", "ready", "ready_reason"}, nil)
	companiesStalledDesc = prometheus.NewDesc(MetricCompaniesStalled,
		"CodatCompanies that are Stalled (only a person can unblock them), by namespace and the Stalled condition's reason.",
		[]string{"namespace", "reason"}, nil)
)

// companiesCollector counts the cached CodatCompanies at each scrape, as
// connectionsCollector counts the connections: no state to keep in step, and
// labels bounded by the cluster's namespaces and the operator's reasons. A
// company has no business to wait for, so there is no gauge of waits.
type companiesCollector struct {
	reader client.Reader
}

func (c companiesCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- companiesDesc
	ch <- companiesStalledDesc
}

func (c companiesCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var list codatv1.CodatCompanyList
	// Read-only, so the cache's own objects do: no copy of every object per scrape.
	if err := c.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(companiesDesc, err)
		return
	}
	type group struct{ namespace, ready, reason string }
	type stall struct{ namespace, reason string }
	byGroup, stalled := map[group]int{}, map[stall]int{}
	for i := range list.Items {
		o := &list.Items[i]
		g := group{namespace: o.Namespace}
		if ready := meta.FindStatusCondition(o.Status.Conditions, codatv1.ConditionReady); ready != nil {
			g.ready, g.reason = string(ready.Status), ready.Reason
		}
		byGroup[g]++
		if s := meta.FindStatusCondition(o.Status.Conditions, codatv1.ConditionStalled); s != nil && s.Status == metav1.ConditionTrue {
			stalled[stall{o.Namespace, s.Reason}]++
		}
	}
	for g, n := range byGroup {
		ch <- prometheus.MustNewConstMetric(companiesDesc, prometheus.GaugeValue, float64(n), g.namespace, g.ready, g.reason)
	}
	for s, n := range stalled {
		ch <- prometheus.MustNewConstMetric(companiesStalledDesc, prometheus.GaugeValue, float64(n), s.namespace, s.reason)
	}
}
