// Runtime: wiring the gateway's parts together in the order they depend on each other.
#include "cli/runtime.h"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/rand.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <iterator>
#include <cstdlib>
#include <thread>

#include "api/http_server.h"
#include "api/web_signin.h"
#include "gateway/context.h"
#include "gateway/server.h"
#include "api/webhook_notifier.h"
#include "policy/guardrails_config.h"
#include "identity/oidc.h"
#include "net/http_client.h"
#include "net/tls_cert.h"
#include "recording/event_log.h"
#include "recording/indexer.h"
#include "store/sqlite_store.h"
#include "core/files.h"
#include "masking/policy.h"
#include "vault/sealed.h"

namespace gatehouse::cli {
namespace {

namespace fs = std::filesystem;

class GatewayRuntime final : public Runtime {
 public:
  explicit GatewayRuntime(const core::Config& config) : config_(config) {}
  ~GatewayRuntime() override { stop(); }

  Result<void> start() {
    std::error_code ec;
    fs::create_directories(config_.data_dir, ec);
    if (ec) return makeError(fmt::format("cannot create data_dir {}: {}", config_.data_dir.string(), ec.message()));
    ::chmod(config_.data_dir.c_str(), 0700);

    auto store = store::openSqliteStore(config_.store_path);
    if (!store) return makeError(fmt::format("store {}: {}", config_.store_path.string(), store.error().message));
    store_ = std::move(*store);
    // One event log per worker thread: appending is then a copy into memory that no other thread touches.
    const unsigned workers = config_.workers != 0 ? config_.workers : std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; config_.postgres_listener.enabled && i < workers; ++i) {
      auto log = recording::EventLog::open(config_.recording_dir, "w" + std::to_string(i),
                                           {.segment_bytes = config_.recording_segment_bytes,
                                            .fsync = config_.recording_fsync});
      if (!log) return makeError(fmt::format("recording {}: {}", config_.recording_dir.string(), log.error().message));
      ctx_.logs.push_back(log->get());
      logs_.push_back(std::move(*log));
    }
    indexer_ = std::make_unique<recording::Indexer>(*store_, config_.recording_dir);
    if (auto r = indexer_->catchUp(); !r)
      spdlog::warn("indexing earlier recordings failed (will retry): {}", r.error().message);
    indexer_thread_ = std::jthread([this](std::stop_token stop) {
      ::pthread_setname_np(::pthread_self(), "gh-indexer");
      // Indexing is background work: the event log is the record, the store only its index. So the indexer
      // runs only on otherwise idle CPU (SCHED_IDLE; nice 19 where that is refused): under load the data path
      // goes first and the index lags; it catches up when the cores are free, and `audit`/`sessions` catch up
      // on demand before they list.
      const sched_param idle{};
      if (::sched_setscheduler(0, SCHED_IDLE, &idle) != 0)
        ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
      recording::runIndexerLoop(*indexer_, stop, std::chrono::milliseconds(500));
    });

    auto signing = identity::loadOrCreateSigningKey(config_.data_dir / "session-signing.key");
    if (!signing) return makeError("session tokens: " + signing.error().message);
    session_tokens_ = std::make_unique<identity::SessionTokens>(
        std::move(*signing), std::chrono::seconds(config_.session_token_ttl_s), *store_);
    if (auto r = setupSignIn(); !r) return r;
    if (auto r = setupTls(); !r) return r;
    if (auto r = setupUpstreams(); !r) return r;
    if (auto r = setupNotifier(); !r) return r;

    ctx_.config = &config_;
    ctx_.store = store_.get();
    ctx_.session_tokens = session_tokens_.get();
    ctx_.oidc = &oidc_;
    ctx_.metrics = &metrics_;
    ctx_.cancels = &cancels_;
    ctx_.client_tls = tls_.get();
    if (config_.postgres_listener.enabled) {
      server_ = std::make_unique<gateway::Server>(ctx_);
      if (auto r = server_->start(); !r) return r;
    }
    if (config_.http_listener.enabled) {
      api::ApiContext api{.metrics = &metrics_, .store = store_.get(), .session_tokens = session_tokens_.get(),
                          .oidc = &oidc_, .web_signin = web_signin_.get(), .recording_healthy = [this] {
                            return std::all_of(logs_.begin(), logs_.end(), [](const auto& l) { return l->healthy(); });
                          }};
      http_ = std::make_unique<api::HttpServer>(config_.http_listener, std::move(api),
                                                config_.http_listener.tls ? tls_.get() : nullptr);
      if (auto r = http_->start(); !r) return r;
    }
    return {};
  }

  uint16_t postgresPort() const override { return server_ ? server_->port() : 0; }
  uint16_t httpPort() const override { return http_ ? http_->port() : 0; }

  void stop() override {
    if (stopped_) return;
    stopped_ = true;
    if (server_) server_->stop(std::chrono::milliseconds(2000));
    if (http_) http_->stop();
    if (indexer_thread_.joinable()) {
      indexer_thread_.request_stop();
      indexer_thread_.join();
    }
    if (notifier_thread_.joinable()) {
      notifier_thread_.request_stop();
      notifier_thread_.join();
    }
    if (oidc_thread_.joinable()) {
      oidc_thread_.request_stop();
      oidc_thread_.join();
    }
  }

 private:
  // The configured OpenID providers, their keys fetched (at once, then when due) by a background thread: a
  // provider that cannot be reached only has its tokens refused until it can.
  // The OpenID providers (their keys fetched by a background thread) and the SAML service providers. The web
  // sign-in uses each OpenID provider's client secret (a confidential client), resolved here.
  Result<void> setupSignIn() {
    if (config_.oidc_providers.empty() && config_.saml_providers.empty()) return {};
    std::optional<vault::MasterKey> master;
    std::map<std::string, std::string> secrets;
    for (const auto& p : config_.oidc_providers) {
      oidc_.add(std::make_unique<identity::OidcProvider>(
          p, [](const std::string& url) { return net::httpGetBody(url, std::chrono::seconds(5)); }));
      if (!p.client_secret) continue;
      if (config_.master_key && !master) {
        auto k = vault::loadMasterKey(*config_.master_key);
        if (!k) return makeError("vault.master_key: " + k.error().message);
        master = std::move(*k);
      }
      auto secret = vault::resolveSecret(*p.client_secret, master ? &*master : nullptr);
      if (!secret) return makeError(p.where + ".client_secret: " + secret.error().message);
      secrets[p.name] = std::move(*secret);
    }
    web_signin_ = std::make_unique<api::WebSignIn>(config_.http_listener, oidc_, *session_tokens_, *store_,
                                                   std::move(secrets));
    for (const auto& p : config_.saml_providers) {
      std::ifstream in(p.idp_metadata);
      if (!in) return makeError(p.where + ".idp_metadata: cannot read " + p.idp_metadata.string());
      saml::SpConfig sp{.entity_id = config_.http_listener.public_url + "/api/auth/saml/" + p.name,
                        .acs_url = {},
                        .idp_metadata_xml = std::string(std::istreambuf_iterator<char>(in), {}),
                        .sp_cert_pem = {},
                        .sp_key_pem = {},
                        .username_attribute = p.username_attribute,
                        .groups_attribute = p.groups_attribute,
                        .group_map = {p.group_map.begin(), p.group_map.end()}};
      sp.acs_url = sp.entity_id + "/acs";
      auto created = saml::ServiceProvider::create(std::move(sp));
      if (!created) return makeError(p.where + ": " + created.error().message);
      web_signin_->addSaml(p.name, std::move(*created));
    }
    if (config_.oidc_providers.empty()) return {};
    oidc_thread_ = std::jthread([this](std::stop_token stop) {
      ::pthread_setname_np(::pthread_self(), "gh-oidc");
      oidc_.runRefresher(stop);
    });
    return {};
  }

  Result<void> setupTls() {
    fs::path cert = config_.tls_cert;
    fs::path key = config_.tls_key;
    if (cert.empty()) {
      cert = config_.data_dir / "tls" / "gateway.crt";
      key = config_.data_dir / "tls" / "gateway.key";
      if (auto r = net::ensureSelfSignedCertificate(cert, key, "localhost"); !r)
        return makeError("generating the gateway's TLS certificate: " + r.error().message);
    }
    tls_ = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
    tls_->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                      net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1 |
                      net::ssl::context::single_dh_use);
    boost::system::error_code ec;
    tls_->use_certificate_chain_file(cert.string(), ec);
    if (!ec) tls_->use_private_key_file(key.string(), net::ssl::context::pem, ec);
    if (ec) return makeError(fmt::format("TLS certificate {} / key {}: {}", cert.string(), key.string(), ec.message()));
    return {};
  }

  // Review notifications: a thread that delivers the store's outbox to the configured webhooks.
  Result<void> setupNotifier() {
    if (config_.webhooks.empty()) return {};
    std::optional<vault::MasterKey> master;
    if (config_.master_key) {
      auto k = vault::loadMasterKey(*config_.master_key);
      if (!k) return makeError("vault.master_key: " + k.error().message);
      master = std::move(*k);
    }
    std::vector<api::WebhookTarget> targets;
    for (std::size_t i = 0; i < config_.webhooks.size(); ++i) {
      const auto& w = config_.webhooks[i];
      api::WebhookTarget t{.url = w.url, .secret = {}};
      if (w.secret) {
        auto secret = vault::resolveSecret(*w.secret, master ? &*master : nullptr);
        if (!secret) return makeError(fmt::format("notifications.webhooks[{}].secret: {}", i, secret.error().message));
        t.secret = std::move(*secret);
      }
      targets.push_back(std::move(t));
    }
    notifier_ = std::make_unique<api::WebhookNotifier>(*store_, std::move(targets));
    notifier_thread_ = std::jthread([this](std::stop_token stop) {
      ::pthread_setname_np(::pthread_self(), "gh-notifier");
      notifier_->run(stop, std::chrono::milliseconds(500));
    });
    return {};
  }

  // The secret behind the token style: the configured one, or one generated once in the data directory, so that
  // tokens stay the same across restarts (joins and counts over tokens keep working).
  Result<std::string> maskingKey(const core::MaskingConfig& m, const vault::MasterKey* master) {
    if (m.token_key) return vault::resolveSecret(*m.token_key, master);
    const auto path = config_.data_dir / "masking.key";
    if (std::ifstream in(path, std::ios::binary); in) {
      std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (key.size() >= 32) return key;
    }
    std::string key(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), 32) != 1) return makeError("no randomness for a key");
    if (auto w = core::writeFileAtomically(path, key); !w) return w.error();
    return key;
  }

  Result<void> setupUpstreams() {
    std::optional<vault::MasterKey> master;
    if (config_.master_key) {
      auto k = vault::loadMasterKey(*config_.master_key);
      if (!k) return makeError("vault.master_key: " + k.error().message);
      master = std::move(*k);
    }
    for (const auto& c : config_.connections) {
      gateway::UpstreamProfile profile{.connection = &c};
      if (c.guardrails) {
        auto compiled = policy::compileGuardrails(*c.guardrails);
        if (!compiled) return makeError(compiled.error().message);
        profile.guardrails = std::make_shared<const policy::Guardrails>(std::move(*compiled));
      }
      if (c.masking) {
        auto key = maskingKey(*c.masking, master ? &*master : nullptr);
        if (!key) return makeError(fmt::format("connection '{}': masking: {}", c.name, key.error().message));
        auto compiled = masking::Policy::compile(*c.masking, std::move(*key));
        if (!compiled) return makeError(compiled.error().message);
        profile.masking = std::move(*compiled);
      }
      if (c.password) {
        auto secret = vault::resolveSecret(*c.password, master ? &*master : nullptr);
        if (!secret) return makeError(fmt::format("connection '{}': password: {}", c.name, secret.error().message));
        profile.password = std::move(*secret);
      }
      try {
        profile.tls = gateway::makeUpstreamTlsContext(c);
      } catch (const boost::system::system_error& e) {
        return makeError(fmt::format("connection '{}': TLS: {}", c.name, e.what()));
      }
      ctx_.upstreams.emplace(c.name, std::move(profile));
    }
    return {};
  }

  core::Config config_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<identity::SessionTokens> session_tokens_;
  identity::OidcProviders oidc_;
  std::unique_ptr<api::WebSignIn> web_signin_;
  std::jthread oidc_thread_;
  std::vector<std::unique_ptr<recording::EventLog>> logs_;  // outlive the server, whose workers write them
  std::unique_ptr<recording::Indexer> indexer_;
  std::jthread indexer_thread_;
  std::unique_ptr<api::WebhookNotifier> notifier_;
  std::jthread notifier_thread_;
  std::unique_ptr<net::ssl::context> tls_;
  gateway::Metrics metrics_;
  gateway::CancelRegistry cancels_;
  gateway::GatewayContext ctx_;
  std::unique_ptr<gateway::Server> server_;
  std::unique_ptr<api::HttpServer> http_;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<Runtime>> Runtime::start(const core::Config& config) {
  auto rt = std::make_unique<GatewayRuntime>(config);
  if (auto r = rt->start(); !r) return r.error();
  return std::unique_ptr<Runtime>(std::move(rt));
}

void blockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a peer that vanishes is an error value, not a process kill
}

int waitForStopSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

void setupLogging(const std::string& level) {
  auto logger = spdlog::get("gatehouse");
  if (!logger) logger = spdlog::stderr_color_mt("gatehouse");
  spdlog::set_default_logger(logger);
  const char* env = std::getenv("GATEHOUSE_LOG");
  spdlog::set_level(spdlog::level::from_str(env && *env ? env : level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
}

}  // namespace gatehouse::cli
