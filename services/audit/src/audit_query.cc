#include "audit_query.h"

#include <string_view>
#include <vector>

#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>
#include <google/protobuf/util/time_util.h>

#include "parallax/store/bytea.h"

namespace parallax::audit {
namespace {

constexpr char kTokenPrefix[] = "seq:";
constexpr size_t kTokenPrefixSize = sizeof(kTokenPrefix) - 1;

double Seconds(const google::protobuf::Timestamp& t) { return static_cast<double>(t.seconds()) + t.nanos() / 1e9; }

// Builds "column = $n" conditions and their parameters.
class Where {
 public:
  void Add(const std::string& condition_with_placeholder, store::Param value) {
    params_.push_back(std::move(value));
    std::string c = condition_with_placeholder;
    const std::string placeholder = absl::StrCat("$", params_.size());
    c.replace(c.find("$?"), 2, placeholder);
    conditions_.push_back(std::move(c));
  }
  void AddIfSet(const std::string& column, const std::string& value) {
    if (!value.empty()) Add(column + " = $?", value);
  }
  std::string Sql() const { return conditions_.empty() ? "true" : absl::StrJoin(conditions_, " AND "); }
  std::vector<store::Param>& params() { return params_; }

 private:
  std::vector<std::string> conditions_;
  std::vector<store::Param> params_;
};

}  // namespace

std::string MakePageToken(int64_t sequence) { return absl::StrCat(kTokenPrefix, sequence); }

absl::StatusOr<int64_t> ParsePageToken(const std::string& token) {
  int64_t sequence = 0;
  if (token.size() <= kTokenPrefixSize || token.compare(0, kTokenPrefixSize, kTokenPrefix) != 0 ||
      !absl::SimpleAtoi(token.substr(kTokenPrefixSize), &sequence) || sequence < 0) {
    return absl::InvalidArgumentError("page_token is not one this audit service issued");
  }
  return sequence;
}

absl::StatusOr<audit::v1::QueryResponse> AuditQuery::Query(const audit::v1::QueryRequest& request) {
  if (request.has_occurred_after() && request.has_occurred_before() &&
      request.occurred_after() >= request.occurred_before()) {
    return absl::InvalidArgumentError("occurred_after must be before occurred_before");
  }
  if (request.page_size() < 0) return absl::InvalidArgumentError("page_size must not be negative");
  const int page_size = request.page_size() == 0 ? kDefaultPageSize : std::min(request.page_size(), kMaxPageSize);
  int64_t after = 0;
  if (!request.page_token().empty()) {
    auto parsed = ParsePageToken(request.page_token());
    if (!parsed.ok()) return parsed.status();
    after = *parsed;
  }

  Where where;
  where.Add("sequence > $?::bigint", static_cast<long long>(after));
  if (request.types_size() > 0) {
    std::vector<std::string> types;
    for (int t : request.types()) types.push_back(std::to_string(t));
    where.Add("type = ANY($?::integer[])", absl::StrCat("{", absl::StrJoin(types, ","), "}"));
  }
  where.AddIfSet("actor_user_id", request.actor_user_id());
  where.AddIfSet("service", request.service());
  const audit::v1::Subject& s = request.subject();
  where.AddIfSet("study_uid", s.study_instance_uid());
  if (s.generation() != 0) where.Add("generation = $?::bigint", static_cast<long long>(s.generation()));
  where.AddIfSet("finding_id", s.finding_id());
  where.AddIfSet("alert_id", s.alert_id());
  where.AddIfSet("review_id", s.review_id());
  where.AddIfSet("case_id", s.case_id());
  where.AddIfSet("report_id", s.report_id());
  where.AddIfSet("label", s.label());
  where.AddIfSet("model_id", s.model_id());
  where.AddIfSet("model_version", s.model_version());
  where.AddIfSet("sop_uid", s.sop_instance_uid());
  if (request.has_occurred_after()) {
    where.Add("occurred_at >= to_timestamp($?::double precision)", Seconds(request.occurred_after()));
  }
  if (request.has_occurred_before()) {
    where.Add("occurred_at < to_timestamp($?::double precision)", Seconds(request.occurred_before()));
  }
  // One row more than the page tells whether another page follows.
  where.params().push_back(static_cast<long long>(page_size + 1));
  const std::string sql = absl::StrCat("SELECT sequence, content, hash FROM audit.entries WHERE ", where.Sql(),
                                       " ORDER BY sequence LIMIT $", where.params().size());
  auto rows = db_->Exec(sql, where.params());
  if (!rows.ok()) return rows.status();

  audit::v1::QueryResponse out;
  int64_t last = after;
  for (const store::Row& row : *rows) {
    if (out.events_size() == page_size) {
      out.set_next_page_token(MakePageToken(last));
      break;
    }
    const int64_t sequence = row.GetInt64(0).value_or(0);
    auto content = store::FromByteaHex(row.Get(1).value_or(""), "audit.entries.content");
    auto hash = store::FromByteaHex(row.Get(2).value_or(""), "audit.entries.hash");
    audit::v1::AuditEvent* event = out.add_events();
    if (!content.ok() || !hash.ok() || !event->ParseFromString(*content)) {
      return absl::DataLossError(absl::StrCat("audit entry ", sequence, " cannot be decoded; run Verify"));
    }
    event->set_hash(*hash);
    last = sequence;
  }
  return out;
}

}  // namespace parallax::audit
