#include "access_refusal_audit.h"

#include <google/protobuf/util/time_util.h>

#include "parallax/log/log.h"

namespace parallax::ingest {
namespace {

constexpr char kOverflowAe[] = "*";

}  // namespace

AccessRefusalAuditor::AccessRefusalAuditor(audit_client::AuditRecorder* audit, AccessRefusalAuditOptions options)
    : audit_(audit), options_(std::move(options)) {
  if (!options_.now) options_.now = [] { return std::chrono::steady_clock::now(); };
  if (options_.max_tracked == 0) options_.max_tracked = 1;
}

AccessRefusalAuditor::~AccessRefusalAuditor() { Stop(); }

void AccessRefusalAuditor::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void AccessRefusalAuditor::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  Flush(true);
}

void AccessRefusalAuditor::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, options_.flush_interval, [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    Flush(false);
    lock.lock();
  }
}

audit::v1::AuditEvent AccessRefusalAuditor::MakeEvent(const Key& key, const std::string& reason, int64_t refusals,
                                                      std::chrono::system_clock::time_point at) {
  audit::v1::AuditEvent e;
  e.set_type(audit::v1::EVENT_TYPE_ACCESS_REFUSED);
  e.set_service("ingest");
  e.set_outcome(audit::v1::OUTCOME_DENIED);
  *e.mutable_occurred_at() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count());
  audit::v1::Actor* actor = e.mutable_actor();
  actor->set_kind(audit::v1::ACTOR_KIND_EXTERNAL_SYSTEM);
  actor->set_system_id(key.first);
  actor->set_network_address(key.second);
  auto attribute = [&e](const std::string& k, const std::string& v) {
    audit::v1::Attribute* a = e.add_attributes();
    a->set_key(k);
    a->set_value(v);
  };
  attribute("action", "DICOM association");
  attribute("reason", reason);
  attribute("refusals", std::to_string(refusals));
  return e;
}

void AccessRefusalAuditor::OnRefused(const std::string& calling_ae, const std::string& peer_address,
                                     const std::string& reason) {
  const auto now = options_.now();
  const auto wall = std::chrono::system_clock::now();
  std::vector<audit::v1::AuditEvent> events;
  {
    std::lock_guard lock(mu_);
    Key key{calling_ae, peer_address};
    auto it = windows_.find(key);
    if (it == windows_.end() && windows_.size() >= options_.max_tracked) {
      key = Key{kOverflowAe, ""};
      it = windows_.find(key);
    }
    if (it == windows_.end()) {
      windows_.emplace(key, Window{now, 0, wall, reason});
      events.push_back(MakeEvent(key, reason, 1, wall));
    } else if (now - it->second.opened >= options_.window) {
      events.push_back(MakeEvent(key, reason, it->second.suppressed + 1, wall));
      it->second = Window{now, 0, wall, reason};
    } else {
      ++it->second.suppressed;
      it->second.last_suppressed = wall;
      it->second.last_reason = reason;
    }
  }
  RecordAll(std::move(events));
}

int AccessRefusalAuditor::Flush(bool all) {
  const auto now = options_.now();
  std::vector<audit::v1::AuditEvent> events;
  {
    std::lock_guard lock(mu_);
    for (auto it = windows_.begin(); it != windows_.end();) {
      Window& w = it->second;
      if (!all && now - w.opened < options_.window) {
        ++it;
        continue;
      }
      if (w.suppressed == 0) {
        it = windows_.erase(it);
        continue;
      }
      events.push_back(MakeEvent(it->first, w.last_reason, w.suppressed, w.last_suppressed));
      // The recorded event opens a new window, so the pair still gets at
      // most one event per window.
      w.opened = now;
      w.suppressed = 0;
      ++it;
    }
  }
  return RecordAll(std::move(events));
}

int AccessRefusalAuditor::RecordAll(std::vector<audit::v1::AuditEvent> events) {
  int recorded = 0;
  for (audit::v1::AuditEvent& e : events) {
    const std::string ae = e.actor().system_id();
    const std::string peer = e.actor().network_address();
    const std::string refusals = e.attributes(2).value();
    auto id = audit_->Record(std::move(e));
    if (id.ok()) {
      ++recorded;
    } else {
      log::Warning("ACCESS_REFUSED audit event not recorded",
                   {{"calling_ae", ae}, {"peer", peer}, {"refusals", refusals},
                    {"error", std::string(id.status().message())}});
    }
  }
  return recorded;
}

size_t AccessRefusalAuditor::tracked() const {
  std::lock_guard lock(mu_);
  return windows_.size();
}

}  // namespace parallax::ingest
