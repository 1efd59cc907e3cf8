// What clients see when things are wrong: unknown connection, bad/revoked/mismatched tokens, groups not allowed,
// backend down, malformed or oversized protocol messages, and a client vanishing mid-query. Each refusal must
// carry the exact SQLSTATE, reveal no secret, and leave the gateway serving everyone else.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <set>
#include <thread>

#include "support/gateway_test.h"

namespace gatehouse::testing {
namespace {
using namespace std::chrono_literals;

class BadInput : public GatewaySuiteTest<BadInput> {
 protected:
  static void SetUpTestSuite() {
    auto closed_port = devtools::pickFreePort();  // nothing listens there
    if (!closed_port) {
      error_ = closed_port.error().message;
      return;
    }
    bool started = startSuite("badinput", [&](GatewayOptions& options, const devtools::LocalPostgres& pg,
                                              const std::string& db) {
      GatewayConnection down = connectionTo(pg, db, upstreamAccount().user, "pg-down");
      down.port = *closed_port;
      down.connect_timeout_ms = 3000;
      options.connections.push_back(down);
    });
    if (!started) return;
    alice_ = issueToken("alice", {"dev"});
    olga_ = issueToken("olga", {"ops"});
  }

  // The gateway still serves an ordinary psql session.
  static void expectStillServing() {
    auto r = runPsql({"-X", "-A", "-t", "-c", "SELECT 'still serving'"}, suite_->clientEnv("alice", alice_));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->status.success()) << r->err;
    EXPECT_EQ(r->out, "still serving\n");
  }

  // A raw connection that sends `bytes`: the gateway must answer with an ErrorResponse whose SQLSTATE is in
  // `codes`, or close the connection, within a few seconds — never wait for more input or accept the session.
  static void expectRefusedOrClosed(const std::string& bytes, const std::set<std::string>& codes) {
    auto sock = RawSocket::connect("127.0.0.1", gateway().pgPort());
    ASSERT_TRUE(sock) << sock.error().message;
    // The peer may close while we are still sending a large prefix; that is an acceptable answer.
    [[maybe_unused]] auto sent = sock->sendAll(bytes);
    auto msg = readBackendMessage(*sock, 5s);
    if (msg) {
      ASSERT_EQ(msg->type, 'E') << "expected an ErrorResponse, got message type '" << msg->type << "'";
      auto fields = parseErrorFields(msg->body);
      EXPECT_TRUE(codes.count(fields['C']) == 1) << "SQLSTATE " << fields['C'] << ": " << fields['M'];
      EXPECT_TRUE(sock->waitClosed(5s)) << "connection left open after a fatal error";
    } else {
      // Closed, or reset (a close with our unread bytes still queued makes the kernel send RST).
      const std::string& why = msg.error().message;
      EXPECT_TRUE(why.find("closed") != std::string::npos || why.find("reset") != std::string::npos)
          << "neither an error nor a close within 5 s: " << why;
    }
  }

  static inline std::string alice_;
  static inline std::string olga_;
};

TEST_F(BadInput, UnknownConnectionIs3D000) {
  auto c = pgConnect(gateway().conninfo("alice", alice_, "no-such-connection"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.sqlstate, "3D000") << c.message;
}

TEST_F(BadInput, BadTokenIs28P01) {
  auto c = pgConnect(gateway().conninfo("alice", "ght_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.sqlstate, "28P01") << c.message;
  auto empty = pgConnect(gateway().conninfo("alice", "not even a token"));
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.sqlstate, "28P01") << empty.message;
}

TEST_F(BadInput, TokenOfAnotherUserIs28P01) {
  auto c = pgConnect(gateway().conninfo("mallory", alice_));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.sqlstate, "28P01") << c.message;
}

TEST_F(BadInput, RevokedTokenIs28P01) {
  auto token = gateway().createToken("rita", {"dev"});
  ASSERT_TRUE(token) << token.error().message;
  auto before = pgConnect(gateway().conninfo("rita", token->token));
  ASSERT_TRUE(before.ok()) << before.message;
  ASSERT_TRUE(gateway().revokeToken(token->id));
  auto after = pgConnect(gateway().conninfo("rita", token->token));
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.sqlstate, "28P01") << after.message;
  // The listing shows it revoked.
  auto list = gateway().cliJson({"token", "list"}, {"--json"});
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_TRUE(list->is_array());
  bool seen = false;
  for (const auto& t : list->as_array()) {
    const auto* obj = t.if_object();
    if (obj == nullptr || !obj->contains("id") || boost::json::value_to<std::string>(obj->at("id")) != token->id) {
      continue;
    }
    seen = true;
    // Whatever the field is called (revoked, revoked_at, revoked_at_us), it must be set.
    bool revoked = false;
    for (const auto& [key, value] : *obj) {
      if (key.find("revoked") != boost::json::string_view::npos && !value.is_null() &&
          !(value.is_bool() && !value.as_bool())) {
        revoked = true;
      }
    }
    EXPECT_TRUE(revoked) << boost::json::serialize(t);
  }
  EXPECT_TRUE(seen) << boost::json::serialize(*list);
}

TEST_F(BadInput, GroupNotAllowedIs42501) {
  auto c = pgConnect(gateway().conninfo("olga", olga_));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.sqlstate, "42501") << c.message;
}

TEST_F(BadInput, BackendDownIs08001WithoutSecrets) {
  auto started = std::chrono::steady_clock::now();
  auto c = pgConnect(gateway().conninfo("alice", alice_, "pg-down"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.sqlstate, "08001") << c.message;
  EXPECT_EQ(c.message.find(upstreamAccount().password), std::string::npos) << c.message;
  EXPECT_EQ(c.message.find(alice_), std::string::npos) << "the client's token echoed back";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 15s);
  // Nor in the gateway's own log.
  EXPECT_EQ(gateway().logTail(1 << 20).find(upstreamAccount().password), std::string::npos);
  expectStillServing();
}

TEST_F(BadInput, UnknownStartupCodeIsRefused) {
  expectRefusedOrClosed(int32be(8) + int32be(0x12345678), {"08P01", "0A000"});
  expectStillServing();
}

TEST_F(BadInput, OversizedStartupLengthIsRefused) {
  // A 2 GB startup packet: the gateway must not wait for (or allocate) it.
  expectRefusedOrClosed(int32be(0x7FFFFFFF) + int32be(196608) + std::string("user\0alice\0", 11), {"08P01"});
  expectRefusedOrClosed(int32be(3), {"08P01"});
  expectStillServing();
}

TEST_F(BadInput, HttpRequestOnPostgresPortIsRefused) {
  expectRefusedOrClosed("GET / HTTP/1.1\r\nHost: gatehouse\r\n\r\n", {"08P01", "0A000"});
  expectStillServing();
}

TEST_F(BadInput, StartupWithoutUserIsRefused) {
  expectRefusedOrClosed(startupMessage({{"database", "pg-main"}}), {"08P01", "28000"});
  expectStillServing();
}

TEST_F(BadInput, OversizedMessageAfterLoginIsRefused) {
  auto c = pgConnect(gateway().conninfo("alice", alice_));
  ASSERT_TRUE(c.ok()) << c.message;
  RawSocket raw = RawSocket::borrow(PQsocket(c.conn.get()));
  // A Query claiming 2 GB, and then a little of it.
  ASSERT_TRUE(raw.sendAll("Q" + int32be(0x7FFFFFF0) + "SELECT 1"));
  auto msg = readBackendMessage(raw, 5s);
  if (msg) {
    ASSERT_EQ(msg->type, 'E');
    EXPECT_EQ(parseErrorFields(msg->body)['C'], "08P01");
  }
  EXPECT_TRUE(raw.waitClosed(5s)) << "the gateway kept a connection whose framing it cannot trust";
  expectStillServing();
}

TEST_F(BadInput, UnknownMessageTypeAfterLoginIs08P01) {
  auto c = pgConnect(gateway().conninfo("alice", alice_));
  ASSERT_TRUE(c.ok()) << c.message;
  RawSocket raw = RawSocket::borrow(PQsocket(c.conn.get()));
  ASSERT_TRUE(raw.sendAll("z" + int32be(4)));
  auto msg = readBackendMessage(raw, 5s);
  ASSERT_TRUE(msg) << msg.error().message;
  ASSERT_EQ(msg->type, 'E');
  EXPECT_EQ(parseErrorFields(msg->body)['C'], "08P01");
  expectStillServing();
}

TEST_F(BadInput, ClientVanishingMidQueryStopsBackendQuery) {
  const std::string tag = "vanish_" + devtools::randomToken(8);
  auto c = pgConnect(gateway().conninfo("alice", alice_));
  ASSERT_TRUE(c.ok()) << c.message;
  ASSERT_EQ(PQsendQuery(c.conn.get(), ("SELECT pg_sleep(60) AS " + tag).c_str()), 1);

  auto direct = pgConnect(suite_->pg->superuserConninfo());
  ASSERT_TRUE(direct.ok()) << direct.message;
  const std::string active = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%" + tag +
                             "%' AND pid <> pg_backend_pid()";
  ASSERT_TRUE(waitUntil([&] { return pgExec(direct.conn.get(), active).value() == "1"; }, 10s))
      << "the query never started upstream";

  // Gone without a Terminate message, as when a laptop lid closes: the socket just shuts.
  ::shutdown(PQsocket(c.conn.get()), SHUT_RDWR);
  auto gone_at = std::chrono::steady_clock::now();
  c.conn.reset();
  bool stopped = waitUntil([&] { return pgExec(direct.conn.get(), active).value() == "0"; }, 8s);
  EXPECT_TRUE(stopped) << "the upstream query kept running after its client vanished";
  EXPECT_LT(std::chrono::steady_clock::now() - gone_at, 8s);
  expectStillServing();
}

}  // namespace
}  // namespace gatehouse::testing
