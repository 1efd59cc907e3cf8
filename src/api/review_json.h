// A review as JSON, the same for the HTTP API and `gatehouse reviews --json`.
#pragma once

#include <boost/json/value.hpp>

#include "store/records.h"

namespace gatehouse::api {

boost::json::value reviewToJson(const store::ReviewRow& review);

}  // namespace gatehouse::api
