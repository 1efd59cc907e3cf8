// See review_json.h.
#include "api/review_json.h"

#include <boost/json.hpp>

#include "core/time_format.h"

namespace gatehouse::api {

namespace json = boost::json;

namespace {

json::array names(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& n : v) a.emplace_back(n);
  return a;
}

json::value optionalTime(const std::optional<int64_t>& us) {
  return us ? json::value(core::isoUtc(*us, true)) : json::value(nullptr);
}

}  // namespace

json::value reviewToJson(const store::ReviewRow& r) {
  json::array decisions;
  for (const auto& d : r.decisions) {
    decisions.emplace_back(json::object{{"approver", d.approver},
                                        {"decision", d.approved ? "approve" : "reject"},
                                        {"reason", d.reason},
                                        {"decided_at", core::isoUtc(d.decided_at_us, true)}});
  }
  return json::object{{"id", r.id},
                      {"status", r.status},
                      {"requester", r.request.requester},
                      {"requester_groups", names(r.request.requester_groups)},
                      {"connection", r.request.connection},
                      {"session_id", r.request.session_id},
                      {"sql", r.request.sql},
                      {"rule", r.request.rule},
                      {"reason", r.request.reason},
                      {"mode", r.request.mode},
                      {"approver_groups", names(r.request.approver_groups)},
                      {"approvals_needed", r.request.approvals_needed},
                      {"created_at", core::isoUtc(r.created_at_us, true)},
                      {"decide_by", core::isoUtc(r.request.decide_by_us, true)},
                      {"decided_at", optionalTime(r.decided_at_us)},
                      {"usable_until", optionalTime(r.usable_until_us)},
                      {"used_at", optionalTime(r.used_at_us)},
                      {"decisions", std::move(decisions)}};
}

}  // namespace gatehouse::api
