// Package monitoring tests what the project ships for monitoring the
// operator: the Prometheus alerts of config/prometheus (with their unit tests
// in Prometheus's rule unit-test format) and the Grafana dashboard of
// config/grafana. It is its own Go module because Prometheus's rule engine
// brings dependencies the operator does not need.
package monitoring
