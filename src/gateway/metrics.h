// The gateway's statistics, declared once here and exported to Prometheus by the HTTP API.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>

namespace gatehouse::gateway {

struct Metrics {
  Metrics();
  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Gauge& connections_active;
  prometheus::Counter& connections_total;
  prometheus::Counter& connections_refused;      // authentication, authorization or upstream failure
  prometheus::Counter& statements_total;
  prometheus::Counter& statement_errors_total;
  prometheus::Counter& bytes_from_client;
  prometheus::Counter& bytes_from_server;
  prometheus::Counter& recording_failures_total;
  prometheus::Histogram& statement_duration_seconds;
  prometheus::Counter& guardrail_denied_total;     // statements refused by a guardrail rule (or unparseable)
  prometheus::Counter& guardrail_review_total;     // statements held for review
};

}  // namespace gatehouse::gateway
