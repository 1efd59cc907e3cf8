// runDemo: everything a person needs to see the gateway at work, and removed again on Ctrl-C.
#include "cli/demo.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "cli/runtime.h"
#include "devtools/local_postgres.h"
#include "identity/tokens.h"
#include "store/sqlite_store.h"

namespace gatehouse::cli {
namespace {

namespace fs = std::filesystem;

// Synthetic people only: generated names, reserved example.com addresses, test card numbers.
constexpr const char* kSampleSchema = R"sql(
CREATE TABLE customers (
  id          serial PRIMARY KEY,
  name        text NOT NULL,
  email       text NOT NULL UNIQUE,
  phone       text,
  card_number text,
  ssn         text,
  notes       text
);
INSERT INTO customers (name, email, phone, card_number, ssn, notes)
SELECT fn || ' ' || ln,
       lower(fn) || '.' || lower(ln) || i || '@example.com',
       '+1-555-01' || lpad((i % 100)::text, 2, '0'),
       CASE i % 3 WHEN 0 THEN '4111 1111 1111 1111' WHEN 1 THEN '5555 5555 5555 4444' ELSE '3782 822463 10005' END,
       lpad((900 + i % 99)::text, 3, '0') || '-' || lpad((i % 97 + 1)::text, 2, '0') || '-' || lpad((1000 + i)::text, 4, '0'),
       CASE i % 10 WHEN 0 THEN 'prefers email'
                   WHEN 3 THEN 'asked to pay with card 4242 4242 4242 4242 next time'
                   WHEN 7 THEN 'second address: ' || lower(ln) || i || '@example.org'
                   ELSE NULL END
FROM generate_series(1, 200) AS i,
     LATERAL (SELECT (ARRAY['Ada','Alan','Grace','Edsger','Barbara','Donald','Frances','Ken'])[1 + i % 8] AS fn,
                     (ARRAY['Lovelace','Turing','Hopper','Dijkstra','Liskov','Knuth','Allen','Thompson'])[1 + (i / 8) % 8] AS ln) n;
CREATE TABLE orders (
  id          serial PRIMARY KEY,
  customer_id int NOT NULL REFERENCES customers(id),
  amount      numeric(10,2) NOT NULL,
  status      text NOT NULL DEFAULT 'new',
  created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO orders (customer_id, amount, status, created_at)
SELECT 1 + (i * 7) % 200, round((random() * 500)::numeric, 2),
       (ARRAY['new','paid','shipped','refunded'])[1 + i % 4], now() - (i || ' hours')::interval
FROM generate_series(1, 1000) AS i;
)sql";

}  // namespace

int runDemo(const DemoOptions& options) {
  spdlog::set_level(spdlog::level::info);
  blockStopSignals();

  const std::string app_password = devtools::randomToken(24);
  devtools::LocalPostgresOptions pg_options;
  pg_options.roles.push_back({.name = "gatehouse_app", .password = app_password});
  pg_options.databases.push_back({.name = "demo", .owner = "gatehouse_app"});
  std::cerr << "demo: starting a throw-away PostgreSQL...\n";
  auto pg = devtools::LocalPostgres::start(pg_options);
  if (!pg) {
    std::cerr << "demo: could not start PostgreSQL: " << pg.error().message << "\n";
    return 1;
  }
  auto& server = **pg;
  // The schema is created by the role the gateway will use, so that it owns the tables.
  if (auto r = server.exec("SET ROLE gatehouse_app;\n" + std::string(kSampleSchema), "demo"); !r) {
    std::cerr << "demo: loading the sample schema failed: " << r.error().message << "\n";
    return 1;
  }

  auto dir = devtools::makeTempDir("gatehouse-demo");
  if (!dir) {
    std::cerr << "demo: " << dir.error().message << "\n";
    return 1;
  }
  const fs::path config_path = *dir / "gatehouse.yaml";
  {
    std::ofstream out(config_path);
    out << fmt::format(R"(# Written by `gatehouse demo`. The backend password is read from an environment variable.
data_dir: data
listeners:
  postgres: {{ address: 127.0.0.1, port: {} }}
  http: {{ address: 127.0.0.1, port: {} }}
connections:
  - name: demo
    type: postgres
    host: 127.0.0.1
    port: {}
    database: demo
    user: gatehouse_app
    password: {{ env: GATEHOUSE_DEMO_PG_PASSWORD }}
    tls: {{ mode: disable }}
    allow_groups: [dev, admins]
    # SQL guardrails: each statement is parsed with PostgreSQL's own parser and judged by the first rule
    # that matches; none matching, the default decides.
    guardrails:
      default: allow
      rules:
        - name: no-drop
          match: {{ kind: drop }}
          action: deny
          message: dropping objects is not allowed through the gateway
        - name: no-truncate
          match: {{ kind: truncate }}
          action: deny
        - name: no-alter-system
          match: {{ conditions: [alter_system] }}
          action: deny
        - name: no-copy-program
          match: {{ conditions: [copy_to_program, copy_from_program] }}
          action: deny
        - name: no-role-switch
          match: {{ kind: set_role }}
          action: deny
        - name: no-procedural-code
          match: {{ kind: procedural }}
          action: deny
        - name: no-dangerous-functions
          match:
            functions: [pg_read_file, pg_read_binary_file, pg_ls_dir, lo_import, lo_export,
                        pg_terminate_backend, pg_cancel_backend, "dblink*"]
          action: deny
        - name: unfiltered-writes-need-review
          match: {{ conditions: [update_without_where, delete_without_where] }}
          action: review
          review: {{ approvers: [admins], mode: async, timeout: 1h, window: 1h }}
    # Data masking: protected columns are masked wherever their values end up in a result (aliases,
    # expressions, subqueries, CTEs, views, JSON and array aggregates, COPY, error messages), and every text
    # value of every result is scanned for sensitive content (a card number typed into notes).
    masking:
      rules:
        - name: customer-email
          columns: [public.customers.email]
          style: token          # a keyed HMAC token: joins and counts still work
          except_groups: [admins]
        - name: customer-phone
          columns: [public.customers.phone]
          style: partial
          keep: 2
          except_groups: [admins]
        - name: customer-card
          columns: [public.customers.card_number]
          style: partial
          keep: 4
        - name: customer-ssn
          columns: [public.customers.ssn]
          style: redact
        - name: sensitive-content
          detectors: [builtin]
          style: redact
)",
                       options.port, options.http_port, server.port());
  }
  ::setenv("GATEHOUSE_DEMO_PG_PASSWORD", app_password.c_str(), 1);

  auto config = core::loadConfig(config_path);
  if (!config) {
    std::cerr << "demo: " << config.error().message << "\n";
    return 1;
  }
  std::string token;
  std::string admin_token;
  {
    std::error_code ec;
    fs::create_directories(config->data_dir, ec);
    auto store = store::openSqliteStore(config->store_path);
    if (!store) {
      std::cerr << "demo: " << store.error().message << "\n";
      return 1;
    }
    auto issued = identity::issueToken(**store, "alice@example.com", {"dev"});
    if (!issued) {
      std::cerr << "demo: " << issued.error().message << "\n";
      return 1;
    }
    token = issued->secret;
    auto admin = identity::issueToken(**store, "admin@example.com", {"admins"});
    if (!admin) {
      std::cerr << "demo: " << admin.error().message << "\n";
      return 1;
    }
    admin_token = admin->secret;
  }

  auto runtime = Runtime::start(*config);
  if (!runtime) {
    std::cerr << "demo: the gateway did not start: " << runtime.error().message << "\n";
    return 1;
  }
  const auto port = (*runtime)->postgresPort();
  std::cout << "\nGatehouse demo is running: a gateway in front of a throw-away PostgreSQL with sample data.\n"
            << "Query the demo database through the gateway (the token is alice's password; the gateway holds\n"
            << "the database's own credential):\n\n"
            << fmt::format("psql \"host=127.0.0.1 port={} dbname=demo user=alice@example.com password={} "
                           "sslmode=require\"\n\n",
                           port, token)
            << "The guardrails refuse DROP, TRUNCATE, ALTER SYSTEM, COPY ... PROGRAM, SET ROLE, procedural code and\n"
            << "dangerous functions; UPDATE/DELETE without WHERE needs a review. Try, in psql:\n"
            << "  DROP TABLE customers;\n  SELECT pg_read_file('/etc/passwd');\n  DELETE FROM orders;\n\n"
            << "Results are masked: emails become tokens, phones and cards keep their last digits, SSNs are\n"
            << "redacted, and a card number or email typed into notes is found by content. Try:\n"
            << "  SELECT * FROM customers LIMIT 5;\n  SELECT upper(email), row_to_json(c) FROM customers c LIMIT 2;\n"
            << "  SELECT notes FROM customers WHERE notes IS NOT NULL LIMIT 4;\n\n"
            << "The DELETE is held for review. As the demo's approver (admin@example.com, group admins):\n"
            << fmt::format("  gatehouse reviews -c {}\n  gatehouse approve REVIEW_ID -c {} --token {}\n",
                           config_path.string(), config_path.string(), admin_token)
            << "then send the same DELETE again: it runs, once.\n\n"
            << "Then see what was recorded:\n"
            << fmt::format("  gatehouse audit -c {}\n  gatehouse sessions -c {}\n", config_path.string(),
                           config_path.string())
            << fmt::format("Metrics: http://127.0.0.1:{}/metrics\n", (*runtime)->httpPort())
            << "Press Ctrl-C to stop and remove everything.\n"
            << std::flush;

  waitForStopSignal();
  std::cerr << "\ndemo: stopping...\n";
  (*runtime)->stop();
  runtime->reset();
  (void)server.stop();
  std::error_code ec;
  fs::remove_all(*dir, ec);
  std::cerr << "demo: stopped and removed.\n";
  return 0;
}

}  // namespace gatehouse::cli
