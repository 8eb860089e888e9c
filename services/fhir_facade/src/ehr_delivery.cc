#include "ehr_delivery.h"

#include <utility>

#include <absl/strings/str_cat.h>
#include <nlohmann/json.hpp>

#include "parallax/http/client.h"
#include "parallax/log/log.h"
#include "parallax/store/listener.h"
#include "search_query.h"

namespace parallax::fhir_facade {
namespace {

// "invalid, not-found": the issue codes of an OperationOutcome body, which
// name the kind of problem without quoting the resource.
std::string IssueCodes(const std::string& body) {
  nlohmann::json outcome = nlohmann::json::parse(body, nullptr, false);
  if (outcome.is_discarded() || !outcome.is_object() || outcome.value("resourceType", "") != "OperationOutcome") {
    return "";
  }
  std::string codes;
  if (auto issues = outcome.find("issue"); issues != outcome.end() && issues->is_array()) {
    for (const auto& issue : *issues) {
      if (!issue.is_object() || !issue.contains("code") || !issue["code"].is_string()) continue;
      const std::string code = issue["code"].get<std::string>();
      if (code.size() > 40) continue;
      if (!codes.empty()) codes += ", ";
      codes += code;
    }
  }
  return codes;
}

}  // namespace

DeliveryWorker::DeliveryWorker(EhrOutbox* outbox, OutboxMetrics* metrics, DeliveryOptions options)
    : outbox_(outbox), metrics_(metrics), options_(std::move(options)), base_url_(options_.ehr_base_url) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

DeliveryWorker::~DeliveryWorker() { Stop(); }

absl::Status DeliveryWorker::Start() {
  if (started_) return absl::FailedPreconditionError("the EHR delivery worker is already started");
  if (base_url_.empty()) return absl::FailedPreconditionError("no EHR base URL: nothing to deliver to");
  if (base_url_.rfind("http://", 0) != 0) {
    return absl::InvalidArgumentError("the EHR base URL must start with http://");
  }
  started_ = true;
  const int workers = std::max(1, options_.workers);
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this, i] { WorkerLoop(i); });
  if (!options_.listen_url.empty()) threads_.emplace_back([this] { ListenLoop(); });
  return absl::OkStatus();
}

void DeliveryWorker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_flag_.store(true);
  cv_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void DeliveryWorker::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++epoch_;
  }
  cv_.notify_all();
}

absl::StatusOr<bool> DeliveryWorker::DeliverOne(const std::string& worker_id) {
  // The lease outlasts the HTTP call, so a live worker never loses it.
  auto claimed = outbox_->Claim(worker_id, options_.request_timeout + std::chrono::seconds(30));
  if (!claimed.ok()) return claimed.status();
  if (!claimed->has_value()) return false;
  const ClaimedEntry& entry = **claimed;

  std::string url = absl::StrCat(base_url_, "/", entry.resource_type);
  if (!entry.identifier_value.empty()) {
    absl::StrAppend(&url, "?identifier=", PercentEncode(entry.identifier_system), "%7C",
                    PercentEncode(entry.identifier_value));
  } else {
    absl::StrAppend(&url, "/", entry.resource_id);
  }
  const http::Headers headers = {{"Content-Type", "application/fhir+json"}, {"Accept", "application/fhir+json"}};
  const auto started = std::chrono::steady_clock::now();
  auto response = http::Fetch("PUT", url, headers, entry.body, options_.request_timeout);
  if (metrics_ != nullptr) {
    metrics_->Request(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }

  int http_status = 0;
  bool retryable = true;
  std::string reason;
  std::string error;
  if (!response.ok()) {
    reason = response.status().code() == absl::StatusCode::kDeadlineExceeded ? "timeout" : "unreachable";
    error = absl::StrCat("EHR ", reason, ": ", response.status().message());
  } else {
    http_status = response->status;
    if (http_status >= 200 && http_status < 300) {
      auto seconds = outbox_->Complete(entry, http_status);
      if (!seconds.ok()) {
        log::Warning("EHR accepted a resource but the outbox could not record it; it will be sent again",
                     {{"entry", static_cast<long long>(entry.entry_id)},
                      {"error", std::string(seconds.status().message())}});
        return true;
      }
      if (metrics_ != nullptr) metrics_->Delivered(entry.resource_type, *seconds);
      log::Debug("delivered to the EHR", {{"entry", static_cast<long long>(entry.entry_id)},
                                          {"type", entry.resource_type},
                                          {"id", entry.resource_id},
                                          {"version", static_cast<long long>(entry.version_id)},
                                          {"status", http_status}});
      return true;
    }
    if (http_status >= 500 || http_status == 408 || http_status == 429) {
      reason = http_status >= 500 ? "http_5xx" : absl::StrCat("http_", http_status);
      error = absl::StrCat("EHR answered HTTP ", http_status);
    } else {
      retryable = false;
      reason = "http_4xx";
      const std::string codes = IssueCodes(response->body);
      error = absl::StrCat("EHR refused the resource: HTTP ", http_status,
                           codes.empty() ? "" : absl::StrCat(" (OperationOutcome issue codes: ", codes, ")"));
    }
  }
  auto state = outbox_->Fail(entry, http_status, error, retryable);
  if (!state.ok()) {
    log::Warning("outbox could not record a failed delivery",
                 {{"entry", static_cast<long long>(entry.entry_id)}, {"error", std::string(state.status().message())}});
    return true;
  }
  if (*state == OutboxEntryState::kDead) {
    if (metrics_ != nullptr) metrics_->Dead(retryable ? "attempts_exhausted" : reason);
    log::Error("outbox entry is dead and needs an operator", {{"entry", static_cast<long long>(entry.entry_id)},
                                                              {"type", entry.resource_type},
                                                              {"id", entry.resource_id},
                                                              {"attempts", entry.attempt},
                                                              {"error", error}});
  } else {
    if (metrics_ != nullptr) metrics_->Retry(reason);
    log::Info("EHR delivery failed; will retry", {{"entry", static_cast<long long>(entry.entry_id)},
                                                  {"attempt", entry.attempt},
                                                  {"error", error}});
  }
  return true;
}

void DeliveryWorker::WorkerLoop(int index) {
  const std::string worker_id = absl::StrCat(options_.worker_name, "#", index);
  bool warned = false;
  while (!stop_flag_.load()) {
    uint64_t seen = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen = epoch_;
    }
    auto handled = DeliverOne(worker_id);
    if (handled.ok()) {
      warned = false;
      if (*handled) continue;
    } else if (!warned) {
      log::Warning("outbox unavailable; delivery waits", {{"error", std::string(handled.status().message())}});
      warned = true;
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, options_.poll_interval, [&] { return stopping_ || epoch_ != seen; });
  }
}

void DeliveryWorker::ListenLoop() {
  constexpr std::chrono::milliseconds kSlice{200};
  std::unique_ptr<store::Listener> listener;
  while (!stop_flag_.load()) {
    if (!listener) {
      auto opened = store::Listener::Open(options_.listen_url, outbox_->options().notify_channel);
      if (!opened.ok()) {
        for (int i = 0; i < 5 && !stop_flag_.load(); ++i) std::this_thread::sleep_for(kSlice);
        continue;
      }
      listener = *std::move(opened);
      Wake();  // notifications may have been missed while not listening
    }
    auto woke = listener->Wait(kSlice);
    if (woke.ok()) {
      if (*woke) Wake();
      continue;
    }
    for (int i = 0; i < 5 && !stop_flag_.load(); ++i) std::this_thread::sleep_for(kSlice);
  }
}

}  // namespace parallax::fhir_facade
