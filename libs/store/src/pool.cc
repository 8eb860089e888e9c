#include "pool.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "errors.h"
#include "parallax/log/log.h"

namespace parallax::store::internal {

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& conninfo) {
  try {
    auto conn = std::make_unique<pqxx::connection>(conninfo);
    // We replace broken connections ourselves; never reconnect behind our back.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    return std::make_unique<Connection>(std::move(conn));
  } catch (...) {
    ClassifiedError e = ClassifyCurrentException();
    if (e.status.code() == absl::StatusCode::kInternal) {
      // libpq rejects a malformed URL before connecting.
      return absl::InvalidArgumentError(absl::StrCat("bad database URL: ", e.status.message()));
    }
    return absl::UnavailableError(absl::StrCat("cannot connect to the database: ", e.status.message()));
  }
}

Connection::Connection(std::unique_ptr<pqxx::connection> conn)
    : conn_(std::move(conn)), quiet_(std::make_unique<pqxx::quiet_errorhandler>(*conn_)) {}

Connection::~Connection() = default;

const std::string* Connection::PreparedName(std::string_view sql, int limit) {
  auto it = prepared_.find(sql);
  if (it != prepared_.end()) return &it->second;
  if (static_cast<int>(prepared_.size()) >= limit) return nullptr;
  std::string name = "px" + std::to_string(next_statement_++);
  conn_->prepare(name, std::string(sql));  // registered with the server on first use
  return &prepared_.emplace(std::string(sql), std::move(name)).first->second;
}

void Connection::ForgetPrepared(std::string_view sql) {
  // The server-side statement stays until the connection closes: unpreparing
  // needs a round trip that may fail inside an aborted transaction.
  auto it = prepared_.find(sql);
  if (it != prepared_.end()) prepared_.erase(it);
}

std::string WithConnectTimeout(const std::string& url, int seconds) {
  if (url.find("connect_timeout") != std::string::npos) return url;
  std::string param = absl::StrCat("connect_timeout=", seconds);
  if (url.find("://") != std::string::npos) {
    return absl::StrCat(url, url.find('?') == std::string::npos ? "?" : "&", param);
  }
  return absl::StrCat(url, url.empty() ? "" : " ", param);
}

Pool::Pool(std::string conninfo, int size, std::chrono::milliseconds acquire_timeout)
    : conninfo_(std::move(conninfo)), size_(size), acquire_timeout_(acquire_timeout) {}

Pool::~Pool() = default;

Pool::Lease::~Lease() {
  if (pool_ && conn_) pool_->Return(std::move(conn_));
}

absl::StatusOr<Pool::Lease> Pool::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  bool ready = available_.wait_for(lock, acquire_timeout_,
                                   [&] { return !idle_.empty() || open_ < size_; });
  if (!ready) {
    return absl::UnavailableError(absl::StrCat("no database connection became free within ",
                                               acquire_timeout_.count(), " ms (all ", size_,
                                               " pooled connections in use)"));
  }
  if (!idle_.empty()) {
    std::unique_ptr<Connection> conn = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(conn));
  }
  ++open_;
  lock.unlock();
  auto conn = Connection::Open(conninfo_);
  if (!conn.ok()) {
    lock.lock();
    --open_;
    lock.unlock();
    available_.notify_one();
    return conn.status();
  }
  return Lease(this, *std::move(conn));
}

void Pool::Return(std::unique_ptr<Connection> conn) {
  std::vector<std::unique_ptr<Connection>> to_close;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (conn->usable()) {
      idle_.push_back(std::move(conn));
    } else {
      // One broken connection usually means the server restarted or the
      // network dropped: the idle ones are most likely broken too, so close
      // them rather than hand each out to fail once.
      to_close.push_back(std::move(conn));
      for (auto& c : idle_) to_close.push_back(std::move(c));
      idle_.clear();
      open_ -= static_cast<int>(to_close.size());
      discarded_ += static_cast<int64_t>(to_close.size());
    }
  }
  if (!to_close.empty()) {
    log::Warning("store discarded database connections",
                 {{"broken", 1}, {"idle_closed", static_cast<int>(to_close.size()) - 1}});
    available_.notify_all();
  } else {
    available_.notify_one();
  }
  // to_close's connections close here, outside the lock.
}

int Pool::open() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_;
}

int Pool::idle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(idle_.size());
}

int64_t Pool::discarded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return discarded_;
}

}  // namespace parallax::store::internal
