// Metrics: one table of the gateway's counters and histograms.
#include "gateway/metrics.h"

namespace gatehouse::gateway {
namespace {

prometheus::Counter& counter(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({});
}

}  // namespace

Metrics::Metrics()
    : registry(std::make_shared<prometheus::Registry>()),
      connections_active(prometheus::BuildGauge()
                             .Name("gatehouse_connections_active")
                             .Help("Client connections open now")
                             .Register(*registry)
                             .Add({{"protocol", "postgres"}})),
      connections_total(counter(*registry, "gatehouse_connections_total", "Client connections accepted")),
      connections_refused(counter(*registry, "gatehouse_connections_refused_total",
                                  "Client connections refused (authentication, authorization, upstream)")),
      statements_total(counter(*registry, "gatehouse_statements_total", "Statements completed")),
      statement_errors_total(counter(*registry, "gatehouse_statement_errors_total", "Statements that failed")),
      bytes_from_client(counter(*registry, "gatehouse_bytes_from_client_total", "Bytes received from clients")),
      bytes_from_server(counter(*registry, "gatehouse_bytes_from_server_total", "Bytes received from backends")),
      recording_failures_total(counter(*registry, "gatehouse_recording_failures_total",
                                       "Writes to the recording log that failed (statements refused)")),
      statement_duration_seconds(prometheus::BuildHistogram()
                                     .Name("gatehouse_statement_duration_seconds")
                                     .Help("Statement latency seen by the gateway, request to completion")
                                     .Register(*registry)
                                     .Add({}, prometheus::Histogram::BucketBoundaries{
                                                  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60})),
      guardrail_denied_total(counter(*registry, "gatehouse_guardrail_denied_total",
                                     "Statements refused by the guardrails (a deny rule, or SQL that does not parse)")),
      guardrail_review_total(counter(*registry, "gatehouse_guardrail_review_total",
                                     "Statements that a guardrail rule held for review")) {}

}  // namespace gatehouse::gateway
