// The test OpenID provider and browser; see oidc_provider.h.
#include "support/oidc_provider.h"

#include <signal.h>
#include <sys/stat.h>

#include <cctype>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "devtools/local_postgres.h"
#include "support/gateway_harness.h"
#include "support/raw_socket.h"

namespace gatehouse::testing {

namespace json = boost::json;

namespace {

json::array strings(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& i : items) out.emplace_back(i);
  return out;
}

std::string str(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

Result<json::object> parseObject(const std::string& text, const std::string& what) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return makeError(what + " is not a JSON object: " + text.substr(0, 500));
  return std::move(v.as_object());
}

std::string formValue(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

}  // namespace

Result<std::filesystem::path> oidcToolsDir() {
  const std::filesystem::path dir = std::filesystem::path(GATEHOUSE_SOURCE_DIR) / "tests" / "oidc";
  if (!std::filesystem::exists(dir / "node_modules" / "oidc-provider") ||
      !std::filesystem::exists(dir / "node_modules" / "playwright-core"))
    return makeError("the OIDC test tools are not installed: run `npm ci` in tests/oidc (scripts/test does)");
  return dir;
}

Result<std::unique_ptr<TestOidcProvider>> TestOidcProvider::start(const std::vector<OidcClient>& clients,
                                                                  const std::vector<OidcUser>& users) {
  auto tools = oidcToolsDir();
  if (!tools) return tools.error();
  auto dir = devtools::makeTempDir("gh-oidc");
  if (!dir) return dir.error();
  std::unique_ptr<TestOidcProvider> p(new TestOidcProvider());
  p->dir_ = *dir;
  json::array cl;
  for (const auto& c : clients) {
    json::object o{{"client_id", c.client_id},
                   {"redirect_uris", strings(c.redirect_uris)},
                   {"grant_types", strings(c.grant_types)},
                   {"token_endpoint_auth_method", c.token_endpoint_auth_method},
                   {"application_type", c.application_type},
                   {"id_token_signed_response_alg", c.id_token_signed_response_alg}};
    if (!c.client_secret.empty()) o["client_secret"] = c.client_secret;
    cl.push_back(std::move(o));
  }
  json::array us;
  for (const auto& u : users)
    us.push_back(json::object{
        {"username", u.username}, {"password", u.password}, {"email", u.email}, {"groups", strings(u.groups)}});
  const auto config = *dir / "provider.json";
  std::ofstream(config) << json::serialize(json::object{{"port", 0}, {"clients", cl}, {"users", us}});
  const auto out = *dir / "stdout";
  auto spawned = devtools::Process::spawn({.argv = {"node", (*tools / "provider.mjs").string(), config.string()},
                                           .stdout_to = devtools::Redirect::file(out),
                                           .stderr_to = devtools::Redirect::file(*dir / "provider.log"),
                                           .parent_death_signal = SIGKILL});
  if (!spawned) return spawned.error();
  p->process_.emplace(std::move(*spawned));
  const bool ready = waitUntil(
      [&] {
        const auto text = devtools::readFileOrEmpty(out);
        const auto at = text.find("READY ");
        if (at == std::string::npos || text.find('\n', at) == std::string::npos) return false;
        p->issuer_ = text.substr(at + 6, text.find('\n', at) - at - 6);
        return true;
      },
      std::chrono::seconds(30));
  if (!ready) return makeError("the OpenID provider did not start: " + p->logTail());
  p->port_ = static_cast<uint16_t>(std::stoi(p->issuer_.substr(p->issuer_.rfind(':') + 1)));
  return p;
}

TestOidcProvider::~TestOidcProvider() {
  if (process_) (void)process_->stop(SIGTERM, std::chrono::seconds(5));
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string TestOidcProvider::logTail() const {
  const auto text = devtools::readFileOrEmpty(dir_ / "provider.log");
  return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
}

Result<std::string> TestOidcProvider::deviceFlowIdToken(const std::string& client_id, const OidcUser& user,
                                                        const std::string& scope) const {
  const std::vector<std::string> form{"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"};
  auto started = httpRequest("127.0.0.1", port_, "POST", "/device/auth", form,
                             "client_id=" + formValue(client_id) + "&scope=" + formValue(scope));
  if (!started) return started.error();
  auto device = parseObject(started->body, "the device authorization answer");
  if (!device) return device.error();
  const auto complete = str(*device, "verification_uri_complete");
  const auto device_code = str(*device, "device_code");
  if (complete.empty() || device_code.empty()) return makeError("device flow not started: " + started->body);
  auto report = runBrowser({"device", "--url", complete, "--username", user.username, "--password", user.password});
  if (!report) return report.error();
  for (int i = 0; i < 30; ++i) {
    auto polled = httpRequest("127.0.0.1", port_, "POST", "/token", form,
                              "grant_type=" + formValue("urn:ietf:params:oauth:grant-type:device_code") +
                                  "&device_code=" + formValue(device_code) + "&client_id=" + formValue(client_id));
    if (!polled) return polled.error();
    auto answer = parseObject(polled->body, "the token answer");
    if (!answer) return answer.error();
    if (polled->status == 200) return str(*answer, "id_token");
    if (str(*answer, "error") != "authorization_pending" && str(*answer, "error") != "slow_down")
      return makeError("device flow refused: " + polled->body + " (browser: " + json::serialize(*report) + ")");
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return makeError("the device flow did not finish");
}

Result<json::object> runBrowser(const std::vector<std::string>& args) {
  auto tools = oidcToolsDir();
  if (!tools) return tools.error();
  std::vector<std::string> argv{"node", (*tools / "browser.mjs").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = devtools::run({.argv = argv}, std::chrono::seconds(60));
  if (!r) return r.error();
  if (!r->status.success()) return makeError("browser.mjs " + r->status.describe() + ": " + r->err);
  return parseObject(r->out, "browser.mjs's report");
}

Result<std::filesystem::path> writeBrowserScript(const std::filesystem::path& dir, const OidcUser& user,
                                                 const std::filesystem::path& report) {
  auto tools = oidcToolsDir();
  if (!tools) return tools.error();
  const auto path = dir / "browser.sh";
  // The redirect_uri parameter, decoded (it holds only ':' and '/' escapes): where the sign-in ends.
  std::ofstream(path) << "#!/bin/sh\n"
                         "until=$(printf '%s' \"$1\" | sed -n 's/.*[?&]redirect_uri=\\([^&]*\\).*/\\1/p' | "
                         "sed 's/%3A/:/g; s/%2F/\\//g')\n"
                      << "exec node '" << (*tools / "browser.mjs").string() << "' login --url \"$1\" --username '"
                      << user.username << "' --password '" << user.password << "' --until \"$until\" > '"
                      << report.string() << "'\n";
  ::chmod(path.c_str(), 0755);
  return path;
}

}  // namespace gatehouse::testing
