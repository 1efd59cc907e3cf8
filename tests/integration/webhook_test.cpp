// Review notifications through a real local HTTP server: each new review and each decision is POSTed as JSON,
// signed with HMAC-SHA256 (checked here with OpenSSL directly), and retried when the receiver fails.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/hmac.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "support/gateway_test.h"

namespace gatehouse::testing {
namespace {

constexpr const char* kSecret = "webhook-test-secret";

// A minimal HTTP/1.1 server on 127.0.0.1: records each request, answers 500 to the first `fail_first` of them
// and 200 after.
class HookServer {
 public:
  struct Received {
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
  };

  explicit HookServer(int fail_first) : fail_first_(fail_first) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~HookServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::vector<Received> received() {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  void serve() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string raw;
      char buf[4096];
      std::size_t need = std::string::npos;
      while (raw.size() < need) {
        const auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        raw.append(buf, static_cast<std::size_t>(n));
        const auto head = raw.find("\r\n\r\n");
        if (head != std::string::npos && need == std::string::npos) {
          std::size_t length = 0;
          const auto cl = raw.find("Content-Length: ");
          if (cl != std::string::npos && cl < head) length = std::stoul(raw.substr(cl + 16));
          need = head + 4 + length;
        }
      }
      Received r;
      const auto head = raw.find("\r\n\r\n");
      if (head != std::string::npos) {
        r.body = raw.substr(head + 4);
        std::size_t pos = raw.find("\r\n") + 2;
        while (pos < head) {
          const auto eol = raw.find("\r\n", pos);
          const auto line = raw.substr(pos, eol - pos);
          const auto colon = line.find(':');
          if (colon != std::string::npos) {
            std::string name = line.substr(0, colon);
            for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
          }
          pos = eol + 2;
        }
      }
      int index = 0;
      {
        std::lock_guard lock(mu_);
        received_.push_back(std::move(r));
        index = static_cast<int>(received_.size());
      }
      const std::string status = index <= fail_first_ ? "500 Internal Server Error" : "200 OK";
      const std::string reply = "HTTP/1.1 " + status + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  int fail_first_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<Received> received_;
};

std::string hmacHex(const std::string& key, const std::string& body) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(body.data()),
       body.size(), md, &len);
  std::string out;
  char hex[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", md[i]);
    out += hex;
  }
  return out;
}

class Webhooks : public GatewaySuiteTest<Webhooks> {
 protected:
  static void SetUpTestSuite() {
    hooks_ = std::make_unique<HookServer>(1);  // the first delivery fails: it must be retried
    if (!startSuite("hook", [](GatewayOptions& o, const devtools::LocalPostgres&, const std::string&) {
          o.connections.at(0).guardrails_yaml = R"(      rules:
        - name: unfiltered-deletes
          match: { conditions: [delete_without_where] }
          action: review
          review: { approvers: [admins], mode: async }
)";
          o.env.emplace_back("GH_TEST_WEBHOOK_SECRET", kSecret);
          o.extra_yaml = "notifications:\n  webhooks:\n    - url: http://127.0.0.1:" +
                         std::to_string(hooks_->port()) +
                         "/gatehouse/hook\n      secret: { env: GH_TEST_WEBHOOK_SECRET }\n";
        }))
      return;
    alice_ = issueToken("alice@example.com", {"dev"});
    bob_ = issueToken("bob@example.com", {"admins"});
  }
  static void TearDownTestSuite() {
    GatewaySuiteTest<Webhooks>::TearDownTestSuite();
    hooks_.reset();
  }

  static inline std::unique_ptr<HookServer> hooks_;
  static inline std::string alice_;
  static inline std::string bob_;
};

TEST_F(Webhooks, NewReviewsAndDecisionsArePostedSignedAndRetried) {
  auto conn = pgConnect(suite_->gateway->conninfo("alice@example.com", alice_));
  ASSERT_TRUE(conn.ok()) << conn.message;
  auto direct = pgConnect(suite_->directConninfo());
  ASSERT_TRUE(direct.ok());
  ASSERT_TRUE(pgExec(direct.conn.get(), "CREATE TABLE IF NOT EXISTS scratch (id int)").ok());
  const auto held = pgExec(conn.conn.get(), "DELETE FROM scratch");
  ASSERT_EQ(held.sqlstate, "42501") << held.error;
  const auto id = held.error.substr(held.error.find("rev_"), 20);

  // The first delivery is refused (500); the notifier tries again after about 2 seconds.
  ASSERT_TRUE(waitUntil([&] { return hooks_->received().size() >= 2; }, std::chrono::seconds(20)))
      << "received " << hooks_->received().size();
  const auto first = hooks_->received()[0];
  const auto second = hooks_->received()[1];
  EXPECT_EQ(first.headers.at("x-gatehouse-event"), "review.created");
  EXPECT_EQ(first.headers.at("x-gatehouse-delivery"), second.headers.at("x-gatehouse-delivery"))
      << "a retry carries the same delivery id";
  EXPECT_EQ(first.body, second.body);
  EXPECT_EQ(first.headers.at("content-type"), "application/json");
  EXPECT_EQ(first.headers.at("x-gatehouse-signature"), "sha256=" + hmacHex(kSecret, first.body));
  const auto payload = boost::json::parse(first.body).as_object();
  EXPECT_EQ(payload.at("event").as_string(), "review.created");
  const auto& review = payload.at("review").as_object();
  EXPECT_EQ(review.at("id").as_string(), id);
  EXPECT_EQ(review.at("sql").as_string(), "DELETE FROM scratch");
  EXPECT_EQ(review.at("requester").as_string(), "alice@example.com");
  EXPECT_EQ(review.at("rule").as_string(), "unfiltered-deletes");

  auto approved = gateway().cli({"approve"}, {id, "--token", bob_, "--reason", "ok"});
  ASSERT_TRUE(approved && approved->status.success()) << (approved ? approved->err : "");
  ASSERT_TRUE(waitUntil([&] { return hooks_->received().size() >= 3; }, std::chrono::seconds(20)));
  const auto decided = hooks_->received()[2];
  EXPECT_EQ(decided.headers.at("x-gatehouse-event"), "review.approved");
  EXPECT_EQ(decided.headers.at("x-gatehouse-signature"), "sha256=" + hmacHex(kSecret, decided.body));
  const auto body = boost::json::parse(decided.body).as_object();
  EXPECT_EQ(body.at("review").as_object().at("status").as_string(), "approved");
  EXPECT_EQ(body.at("review").as_object().at("decisions").as_array()[0].as_object().at("approver").as_string(),
            "bob@example.com");
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(hooks_->received().size(), 3u) << "each delivered once";
}

}  // namespace
}  // namespace gatehouse::testing
