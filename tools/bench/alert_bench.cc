// parallax-alert-bench: the alert half of scripts/bench/alerts.
//
// Plays triage against a running stack: for each of N fresh synthetic chest
// films it calls AlertRouting.Route (service token, role integration) with
// one positive Pneumothorax finding, then waits until the EHR endpoint
// (parallax-ehr-recorder) has received the alert's FHIR Communication.
//
//   t0     just before Route is called (system clock)
//   route  Route's answer, seen by the caller
//   t1     the recorder's own receipt time of the Communication request
//          (GET /_recorded "time"; same clock, loopback; millisecond
//          resolution, truncated, so t1 - t0 may read up to 1 ms short)
//   seen   when this driver first saw it (GET /_stats polled every 2 ms; an
//          upper bound, later than t1 by up to a poll interval plus a fetch)
//
// Sequential: one study at a time (warm-up studies first, not counted).
// Burst: `burst` Routes at once from `burst_threads` threads, then wait for
// all their Communications. Percentiles are nearest-rank.
//
// Prints rows of the benchmark's table on stdout (scripts/bench/alerts prints
// the header), progress on stderr, one CSV line per alert to --csv (for the
// stage split the script reads from the database), and, with --ids-out, the
// ids the script's wrk runs read (a Communication, a DiagnosticReport, the
// patient and study of the last sequential alert). Exit status: 0 when the
// run completed, whatever the figures; 1 when the stack could not be used at
// all (no alert created); 2 on a usage error.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_format.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "parallax/alerting/v1/alert_routing.grpc.pb.h"
#include "parallax/auth/grpc_auth.h"
#include "parallax/auth/jwt.h"
#include "parallax/http/client.h"
#include "parallax/rpc/rpc_server.h"

namespace {

namespace alerting = parallax::alerting::v1;
namespace common = parallax::common::v1;
using Clock = std::chrono::system_clock;
using nlohmann::json;

constexpr char kUsage[] =
    "usage: parallax-alert-bench --alert-routing HOST:PORT --ehr http://HOST:PORT --secret-file F\n"
    "                            [--facade http://HOST:PORT/fhir] [--model-manifest models/parallax.cxr.json]\n"
    "                            [--count 50] [--warmup 5] [--burst 20] [--burst-threads 4]\n"
    "                            [--goal-ms 200] [--timeout-ms 10000] [--poll-ms 2]\n"
    "                            [--csv FILE] [--ids-out FILE]\n"
    "  --ehr is the recorder's root (its FHIR base is <root>/fhir; /_stats and /_recorded at the root).\n"
    "  --burst 0 skips the burst run.\n";

struct Options {
  std::string alert_routing;
  std::string ehr;
  std::string facade;
  std::string secret_file;
  std::string model_manifest = "models/parallax.cxr.json";
  int count = 50;
  int warmup = 5;
  int burst = 20;
  int burst_threads = 4;
  double goal_ms = 200;
  int timeout_ms = 10000;
  int poll_ms = 2;
  std::string csv;
  std::string ids_out;
};

// What the synthetic finding is made of: the Pneumothorax label of the chest
// film model, with its real code, operating point and model identity.
struct ModelLabel {
  std::string model_id, model_version, device_uid;
  std::string code_system, code, display;
  double operating_point = 0;
};

constexpr char kLabel[] = "Pneumothorax";

absl::StatusOr<ModelLabel> LoadModelLabel(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the model manifest ", path));
  json m = json::parse(in, nullptr, false);
  if (m.is_discarded() || !m.is_object()) return absl::InvalidArgumentError(absl::StrCat(path, " is not JSON"));
  ModelLabel out;
  out.model_id = m.value("id", "");
  out.model_version = m.value("version", "");
  out.device_uid = m.value("device_uid", "");
  for (const json& l : m.value("labels", json::array())) {
    if (l.value("name", "") != kLabel) continue;
    const json code = l.value("code", json::object());
    out.code_system = code.value("system", "");
    out.code = code.value("code", "");
    out.display = code.value("display", "");
    out.operating_point = l.value("operating_point", 0.0);
    return out;
  }
  return absl::NotFoundError(absl::StrCat(path, " has no label ", kLabel));
}

// "2.25." followed by a random 38-digit decimal (a UUID-derived UID, as
// DICOM PS3.5 B.2 allows).
std::string RandomUid(std::mt19937_64& rng) {
  std::string uid = "2.25.";
  std::uniform_int_distribution<int> first(1, 9), digit(0, 9);
  uid += static_cast<char>('0' + first(rng));
  for (int i = 0; i < 37; ++i) uid += static_cast<char>('0' + digit(rng));
  return uid;
}

void SetTimestamp(google::protobuf::Timestamp* ts, Clock::time_point t) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  ts->set_seconds(us / 1000000);
  ts->set_nanos(static_cast<int32_t>((us % 1000000) * 1000));
}

struct Study {
  std::string study_uid, series_uid, sop_uid, patient_id, accession;
  alerting::RouteRequest request;
};

Study MakeStudy(const ModelLabel& model, const std::string& run_tag, int index, std::mt19937_64& rng) {
  Study s;
  s.study_uid = RandomUid(rng);
  s.series_uid = RandomUid(rng);
  s.sop_uid = RandomUid(rng);
  s.patient_id = absl::StrCat("PXB", run_tag, "-", index);
  s.accession = absl::StrCat("ACB", run_tag, index);
  const Clock::time_point now = Clock::now();
  std::time_t tt = Clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char date[16], time_of_day[16];
  std::strftime(date, sizeof date, "%Y%m%d", &tm);
  std::strftime(time_of_day, sizeof time_of_day, "%H%M%S", &tm);

  alerting::RouteRequest& r = s.request;
  r.mutable_study()->set_study_instance_uid(s.study_uid);
  r.mutable_study()->set_generation(1);
  common::StudyManifest* m = r.mutable_manifest();
  m->set_study_instance_uid(s.study_uid);
  m->set_patient_id(s.patient_id);
  m->set_issuer_of_patient_id("PARALLAX-BENCH");
  m->set_accession_number(s.accession);
  m->set_study_date(date);
  m->set_study_time(time_of_day);
  m->set_study_description("XR CHEST PA (benchmark)");
  m->set_generation(1);
  SetTimestamp(m->mutable_first_received(), now);
  SetTimestamp(m->mutable_last_received(), now);
  common::SeriesManifest* series = m->add_series();
  series->set_series_instance_uid(s.series_uid);
  series->set_modality("DX");
  series->set_body_part_examined("CHEST");
  series->set_series_description("PA");
  series->set_series_number(1);
  common::InstanceManifest* inst = series->add_instances();
  inst->set_sop_instance_uid(s.sop_uid);
  inst->set_sop_class_uid("1.2.840.10008.5.1.4.1.1.1.1");  // Digital X-Ray Image Storage - For Presentation
  inst->set_transfer_syntax_uid("1.2.840.10008.1.2.1");
  inst->set_instance_number(1);
  inst->set_view_position("PA");
  inst->set_rows(2048);
  inst->set_columns(2048);
  inst->set_number_of_frames(1);
  inst->set_photometric_interpretation("MONOCHROME2");
  inst->set_bits_stored(12);
  inst->add_pixel_spacing(0.2);
  inst->add_pixel_spacing(0.2);
  inst->set_body_part_examined("CHEST");

  common::Finding* f = r.add_findings();
  // Unique per study, as triage's ids are (they derive from the study UID).
  f->set_finding_id(absl::StrCat("fnd-bench-", s.study_uid.substr(5, 24), "-pneumothorax"));
  f->set_label(kLabel);
  f->mutable_code()->set_system(model.code_system);
  f->mutable_code()->set_code(model.code);
  f->mutable_code()->set_display(model.display);
  f->set_probability(0.9);
  f->set_operating_point(model.operating_point);
  f->set_positive(0.9 >= model.operating_point);
  f->set_laterality(common::LATERALITY_RIGHT);
  f->set_zone("right upper zone");
  f->set_area_cm2(30.0);
  f->mutable_model()->set_model_id(model.model_id);
  f->mutable_model()->set_model_version(model.model_version);
  f->mutable_model()->set_device_uid(model.device_uid);
  f->set_series_instance_uid(s.series_uid);
  f->add_source_sop_instance_uids(s.sop_uid);
  r.set_urgency(80);
  r.set_job_id(absl::StrCat("bench-", run_tag, "-", index));
  SetTimestamp(r.mutable_analysed_at(), now);
  return s;
}

double Micros(Clock::time_point t) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count());
}

// "2026-12-04T23:53:35.123Z" -> milliseconds since the epoch.
std::optional<int64_t> ParseInstantMillis(const std::string& text) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &ms) != 7) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

// The EHR recorder's test endpoints.
class RecorderClient {
 public:
  explicit RecorderClient(std::string root) : root_(std::move(root)) {
    while (!root_.empty() && root_.back() == '/') root_.pop_back();
  }

  // How many Communication resources the recorder holds.
  absl::StatusOr<int64_t> CommunicationCount() const {
    auto body = Get("/_stats");
    if (!body.ok()) return body.status();
    json stats = json::parse(*body, nullptr, false);
    if (stats.is_discarded()) return absl::InternalError("the recorder's /_stats is not JSON");
    const json resources = stats.value("resources", json::object());
    return resources.value("Communication", int64_t{0});
  }

  absl::StatusOr<json> Recorded() const {
    auto body = Get("/_recorded");
    if (!body.ok()) return body.status();
    json recorded = json::parse(*body, nullptr, false);
    if (recorded.is_discarded() || !recorded.is_array()) {
      return absl::InternalError("the recorder's /_recorded is not a JSON array");
    }
    return recorded;
  }

  absl::StatusOr<std::string> Get(const std::string& path) const {
    auto response = parallax::http::Fetch("GET", root_ + path, {}, "", std::chrono::milliseconds(5000));
    if (!response.ok()) return response.status();
    if (response->status != 200) {
      return absl::UnavailableError(absl::StrCat("GET ", path, " answered HTTP ", response->status));
    }
    return std::move(response->body);
  }

 private:
  std::string root_;
};

// The first successful Communication write for `alert_id` in `recorded`:
// (receipt time in ms since the epoch, the Communication's id).
std::optional<std::pair<int64_t, std::string>> FindCommunication(const json& recorded, const std::string& alert_id) {
  const std::string suffix = "|" + alert_id;
  for (const json& e : recorded) {
    if (e.value("type", "") != "Communication") continue;
    const std::string method = e.value("method", "");
    if (method != "PUT" && method != "POST") continue;
    const int status = e.value("status", 0);
    if (status < 200 || status > 299) continue;
    const std::string identifier = e.value("identifier", "");
    const bool match = identifier == alert_id ||
                       (identifier.size() > suffix.size() &&
                        identifier.compare(identifier.size() - suffix.size(), suffix.size(), suffix) == 0);
    if (!match) continue;
    auto t = ParseInstantMillis(e.value("time", ""));
    if (!t) continue;
    return std::make_pair(*t, e.value("id", ""));
  }
  return std::nullopt;
}

// One routed alert and its timings (microseconds since the epoch; 0 = not
// observed).
struct Sample {
  std::string phase;  // "warmup", "sequential", "burst"
  int index = 0;
  std::string alert_id, study_uid, patient_id, communication_id;
  double t0_us = 0, route_done_us = 0, seen_us = 0;
  int64_t recorder_ms = 0;
  std::string error;  // why no latency was measured
};

std::string RouteFailure(const grpc::Status& status) {
  return absl::StrCat("Route failed: ", status.error_code(), " ", status.error_message());
}

// Calls Route for `study`; fills t0, route_done and alert_id, or error.
void CallRoute(alerting::AlertRouting::Stub& stub, const std::string& token, Study& study, Sample& sample) {
  grpc::ClientContext ctx;
  parallax::auth::AttachBearer(&ctx, token);
  ctx.set_deadline(Clock::now() + std::chrono::seconds(10));
  alerting::RouteResponse response;
  const Clock::time_point t0 = Clock::now();
  const grpc::Status status = stub.Route(&ctx, study.request, &response);
  const Clock::time_point done = Clock::now();
  sample.t0_us = Micros(t0);
  sample.route_done_us = Micros(done);
  sample.study_uid = study.study_uid;
  sample.patient_id = study.patient_id;
  if (!status.ok()) {
    sample.error = RouteFailure(status);
    return;
  }
  for (const auto& change : response.changes()) {
    if (change.change() == alerting::CHANGE_KIND_CREATED || change.change() == alerting::CHANGE_KIND_UPDATED) {
      sample.alert_id = change.alert().alert_id();
      return;
    }
  }
  sample.error = response.suppressed_size() > 0
                     ? absl::StrCat("no alert: the finding was suppressed (reason ",
                                    response.suppressed(0).reason(), ")")
                     : "no alert: Route returned no created alert";
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

std::string Ms(double v) { return std::isnan(v) ? "-" : absl::StrFormat("%.1f", v); }

// One row of the table scripts/bench/alerts prints:
// measure | n | p50 | p95 | p99 | max | req/s | comparison.
void Row(const std::string& measure, const std::vector<double>& ms, const std::string& comparison) {
  std::cout << absl::StrFormat("%-56s %5d %8s %8s %8s %8s %9s  %s\n", measure, static_cast<int>(ms.size()),
                               Ms(Percentile(ms, 50)), Ms(Percentile(ms, 95)), "-",
                               Ms(ms.empty() ? NAN : *std::max_element(ms.begin(), ms.end())), "-", comparison);
  std::cout.flush();
}

std::string GoalComparison(const std::vector<double>& ms, double goal_ms) {
  if (ms.empty()) return "no samples";
  const double p95 = Percentile(ms, 95);
  return absl::StrFormat("p95/goal %.0f ms = %.2f (%s)", goal_ms, p95 / goal_ms,
                         p95 <= goal_ms ? "meets" : "misses");
}

struct Bench {
  Options options;
  ModelLabel model;
  std::string token;
  std::string run_tag;
  std::unique_ptr<alerting::AlertRouting::Stub> stub;
  RecorderClient recorder{""};
  std::mt19937_64 rng{std::random_device{}()};
  int serial = 0;  // numbers the studies of the run: patient ids and accessions stay unique

  // Routes one study and waits for its Communication at the recorder.
  Sample RunOne(const std::string& phase, int index) {
    Study study = MakeStudy(model, run_tag, serial++, rng);
    Sample s;
    s.phase = phase;
    s.index = index;
    auto baseline = recorder.CommunicationCount();
    if (!baseline.ok()) {
      s.error = absl::StrCat("EHR recorder: ", baseline.status().message());
      return s;
    }
    CallRoute(*stub, token, study, s);
    if (!s.error.empty()) return s;
    int64_t seen_count = *baseline;
    const auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
    while (Clock::now() < deadline) {
      auto n = recorder.CommunicationCount();
      if (n.ok() && *n > seen_count) {
        const Clock::time_point seen = Clock::now();
        seen_count = *n;
        auto recorded = recorder.Recorded();
        if (recorded.ok()) {
          if (auto hit = FindCommunication(*recorded, s.alert_id)) {
            s.seen_us = Micros(seen);
            s.recorder_ms = hit->first;
            s.communication_id = hit->second;
            return s;
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(options.poll_ms));
    }
    s.error = seen_count > *baseline
                  ? absl::StrCat("a Communication reached the EHR but none with identifier <system>|", s.alert_id)
                  : absl::StrCat("the Communication did not reach the EHR within ", options.timeout_ms, " ms");
    return s;
  }

  // `n` Routes at once from `threads` threads, then their Communications.
  std::vector<Sample> RunBurst(int n, int threads) {
    std::vector<Study> studies;
    std::vector<Sample> samples(n);
    for (int i = 0; i < n; ++i) {
      studies.push_back(MakeStudy(model, run_tag, serial++, rng));
      samples[i].phase = "burst";
      samples[i].index = i;
    }
    auto baseline = recorder.CommunicationCount();
    if (!baseline.ok()) {
      for (Sample& s : samples) s.error = absl::StrCat("EHR recorder: ", baseline.status().message());
      return samples;
    }
    std::barrier start(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        start.arrive_and_wait();
        for (int i = t; i < n; i += threads) CallRoute(*stub, token, studies[i], samples[i]);
      });
    }
    for (auto& th : pool) th.join();
    int expected = 0;
    for (const Sample& s : samples) expected += s.error.empty() ? 1 : 0;
    const auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms) * 3;
    while (Clock::now() < deadline) {
      auto count = recorder.CommunicationCount();
      if (count.ok() && *count >= *baseline + expected) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(options.poll_ms));
    }
    auto recorded = recorder.Recorded();
    for (Sample& s : samples) {
      if (!s.error.empty()) continue;
      if (!recorded.ok()) {
        s.error = absl::StrCat("EHR recorder: ", recorded.status().message());
        continue;
      }
      if (auto hit = FindCommunication(*recorded, s.alert_id)) {
        s.recorder_ms = hit->first;
        s.communication_id = hit->second;
      } else {
        s.error = absl::StrCat("the Communication did not reach the EHR within ", 3 * options.timeout_ms, " ms");
      }
    }
    return samples;
  }
};

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") return false;
    if (i + 1 >= argc) {
      std::cerr << "parallax-alert-bench: " << flag << " needs a value\n";
      return false;
    }
    const std::string value = argv[++i];
    auto integer = [&](int* out) {
      if (!absl::SimpleAtoi(value, out) || *out < 0) {
        std::cerr << "parallax-alert-bench: " << flag << " needs a non-negative integer\n";
        return false;
      }
      return true;
    };
    if (flag == "--alert-routing") o->alert_routing = value;
    else if (flag == "--ehr") o->ehr = value;
    else if (flag == "--facade") o->facade = value;
    else if (flag == "--secret-file") o->secret_file = value;
    else if (flag == "--model-manifest") o->model_manifest = value;
    else if (flag == "--count") { if (!integer(&o->count)) return false; }
    else if (flag == "--warmup") { if (!integer(&o->warmup)) return false; }
    else if (flag == "--burst") { if (!integer(&o->burst)) return false; }
    else if (flag == "--burst-threads") { if (!integer(&o->burst_threads)) return false; }
    else if (flag == "--timeout-ms") { if (!integer(&o->timeout_ms)) return false; }
    else if (flag == "--poll-ms") { if (!integer(&o->poll_ms)) return false; }
    else if (flag == "--goal-ms") {
      if (!absl::SimpleAtod(value, &o->goal_ms) || o->goal_ms <= 0) {
        std::cerr << "parallax-alert-bench: --goal-ms needs a positive number\n";
        return false;
      }
    }
    else if (flag == "--csv") o->csv = value;
    else if (flag == "--ids-out") o->ids_out = value;
    else {
      std::cerr << "parallax-alert-bench: unknown flag " << flag << "\n";
      return false;
    }
  }
  if (o->alert_routing.empty() || o->ehr.empty() || o->secret_file.empty()) {
    std::cerr << "parallax-alert-bench: --alert-routing, --ehr and --secret-file are required\n";
    return false;
  }
  if (o->count < 1 || o->burst_threads < 1 || o->timeout_ms < 1) {
    std::cerr << "parallax-alert-bench: --count, --burst-threads and --timeout-ms must be at least 1\n";
    return false;
  }
  return true;
}

// A DiagnosticReport id for `study_uid` from the facade's search, and
// whether the facade reads the Communication: what the wrk runs need.
struct FacadeIds {
  std::string diagnostic_report_id;
  int communication_status = 0;
  std::string note;
};

FacadeIds LookUpFacade(const std::string& facade, const std::string& token, const std::string& study_uid,
                       const std::string& communication_id) {
  FacadeIds ids;
  const parallax::http::Headers headers = {{"Authorization", "Bearer " + token},
                                           {"Accept", "application/fhir+json"}};
  auto read = parallax::http::Fetch("GET", facade + "/Communication/" + communication_id, headers, "",
                                    std::chrono::milliseconds(5000));
  if (!read.ok()) {
    ids.note = absl::StrCat("facade read: ", read.status().message());
    return ids;
  }
  ids.communication_status = read->status;
  auto search = parallax::http::Fetch("GET", facade + "/DiagnosticReport?study=" + study_uid, headers, "",
                                      std::chrono::milliseconds(5000));
  if (!search.ok()) {
    ids.note = absl::StrCat("facade search: ", search.status().message());
    return ids;
  }
  if (search->status != 200) {
    ids.note = absl::StrCat("facade DiagnosticReport search answered HTTP ", search->status);
    return ids;
  }
  json bundle = json::parse(search->body, nullptr, false);
  if (bundle.is_object()) {
    for (const json& e : bundle.value("entry", json::array())) {
      const json r = e.value("resource", json::object());
      if (r.value("resourceType", "") == "DiagnosticReport") {
        ids.diagnostic_report_id = r.value("id", "");
        break;
      }
    }
  }
  if (ids.diagnostic_report_id.empty()) ids.note = "the facade holds no DiagnosticReport for the study";
  return ids;
}

std::vector<double> Latencies(const std::vector<Sample>& samples, bool seen) {
  std::vector<double> out;
  for (const Sample& s : samples) {
    if (!s.error.empty()) continue;
    if (seen) {
      if (s.seen_us > 0) out.push_back((s.seen_us - s.t0_us) / 1000.0);
    } else if (s.recorder_ms > 0) {
      out.push_back(static_cast<double>(s.recorder_ms) - s.t0_us / 1000.0);
    }
  }
  return out;
}

std::vector<double> RouteLatencies(const std::vector<Sample>& samples) {
  std::vector<double> out;
  for (const Sample& s : samples) {
    if (s.route_done_us > 0 && !s.alert_id.empty()) out.push_back((s.route_done_us - s.t0_us) / 1000.0);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, &o)) {
    std::cerr << kUsage;
    return 2;
  }
  Bench bench;
  bench.options = o;
  auto model = LoadModelLabel(o.model_manifest);
  if (!model.ok()) {
    std::cerr << "parallax-alert-bench: " << model.status().message() << "\n";
    return 2;
  }
  bench.model = *model;
  auto secret = parallax::auth::ReadSecretFile(o.secret_file);
  if (!secret.ok()) {
    std::cerr << "parallax-alert-bench: " << secret.status().message() << "\n";
    return 2;
  }
  auto issuer = parallax::auth::JwtIssuer::Create(*secret);
  if (!issuer.ok()) {
    std::cerr << "parallax-alert-bench: " << issuer.status().message() << "\n";
    return 2;
  }
  parallax::auth::TokenClaims service_claims;
  service_claims.subject = "bench-triage";
  service_claims.roles = {parallax::escalation::v1::ROLE_INTEGRATION};
  service_claims.ttl = std::chrono::hours(2);
  auto token = issuer->Issue(service_claims, Clock::now());
  if (!token.ok()) {
    std::cerr << "parallax-alert-bench: " << token.status().message() << "\n";
    return 2;
  }
  bench.token = *token;
  bench.run_tag = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                     Clock::now().time_since_epoch()).count() % 1000000);
  bench.stub = alerting::AlertRouting::NewStub(parallax::rpc::MakeChannel(o.alert_routing));
  bench.recorder = RecorderClient(o.ehr);

  std::vector<Sample> all;
  std::cerr << "alert bench: warm-up " << o.warmup << ", sequential " << o.count << "\n";
  for (int i = 0; i < o.warmup; ++i) {
    Sample s = bench.RunOne("warmup", i);
    if (!s.error.empty()) std::cerr << "  warm-up " << i << ": " << s.error << "\n";
    all.push_back(std::move(s));
  }
  std::vector<Sample> sequential;
  for (int i = 0; i < o.count; ++i) {
    Sample s = bench.RunOne("sequential", i);
    if (!s.error.empty()) std::cerr << "  study " << i << ": " << s.error << "\n";
    sequential.push_back(s);
    all.push_back(std::move(s));
    if ((i + 1) % 10 == 0) std::cerr << "  " << (i + 1) << " of " << o.count << "\n";
  }
  std::vector<Sample> burst;
  if (o.burst > 0) {
    std::cerr << "alert bench: burst of " << o.burst << " from " << o.burst_threads << " threads\n";
    burst = bench.RunBurst(o.burst, o.burst_threads);
    for (const Sample& s : burst) {
      if (!s.error.empty()) std::cerr << "  burst " << s.index << ": " << s.error << "\n";
      all.push_back(s);
    }
  }

  const auto seq_t1 = Latencies(sequential, false);
  const auto seq_seen = Latencies(sequential, true);
  const auto seq_route = RouteLatencies(sequential);
  Row("alert, sequential: Route -> EHR has Communication", seq_t1, GoalComparison(seq_t1, o.goal_ms));
  Row(absl::StrFormat("  same, as seen by the driver (%d ms poll; bound)", o.poll_ms), seq_seen, GoalComparison(seq_seen, o.goal_ms));
  Row("  Route call alone (answer at the caller)", seq_route,
      seq_route.empty() ? "" : absl::StrFormat("p95 = %.0f%% of the goal", 100 * Percentile(seq_route, 95) / o.goal_ms));
  if (o.burst > 0) {
    const auto burst_t1 = Latencies(burst, false);
    const auto burst_route = RouteLatencies(burst);
    Row(absl::StrFormat("alert, burst of %d from %d threads: Route -> EHR", o.burst, o.burst_threads), burst_t1,
        GoalComparison(burst_t1, o.goal_ms));
    Row("  Route call alone, in the burst", burst_route, "");
  }
  int failed = 0;
  for (const Sample& s : sequential) failed += s.error.empty() ? 0 : 1;
  for (const Sample& s : burst) failed += s.error.empty() ? 0 : 1;
  if (failed > 0) {
    std::cout << absl::StrFormat("%-56s %5d  (see stderr for why)\n", "alerts without a measured latency", failed);
  }

  if (!o.csv.empty()) {
    std::ofstream csv(o.csv);
    csv << "phase,index,alert_id,study_uid,communication_id,t0_us,route_done_us,seen_us,recorder_ms,error\n";
    for (const Sample& s : all) {
      csv << s.phase << ',' << s.index << ',' << s.alert_id << ',' << s.study_uid << ',' << s.communication_id << ','
          << absl::StrFormat("%.0f,%.0f,%.0f", s.t0_us, s.route_done_us, s.seen_us) << ',' << s.recorder_ms << ",\""
          << s.error << "\"\n";
    }
  }

  // The last sequential alert that arrived: its ids for the read benchmarks.
  const Sample* last = nullptr;
  for (const Sample& s : sequential) {
    if (s.error.empty() && !s.communication_id.empty()) last = &s;
  }
  if (last == nullptr) {
    std::cerr << "parallax-alert-bench: no alert reached the EHR; nothing to read back\n";
    return 1;
  }
  if (!o.ids_out.empty()) {
    std::ofstream ids(o.ids_out);
    ids << "COMMUNICATION_ID=" << last->communication_id << "\n"
        << "STUDY_UID=" << last->study_uid << "\n"
        << "PATIENT_ID=" << last->patient_id << "\n"
        << "ALERT_ID=" << last->alert_id << "\n";
    if (!o.facade.empty()) {
      parallax::auth::TokenClaims reader;
      reader.subject = "dr.chest";
      reader.roles = {parallax::escalation::v1::ROLE_THORACIC_RADIOLOGIST};
      reader.groups = {"thoracic-radiology"};
      auto reader_token = issuer->Issue(reader, Clock::now());
      if (reader_token.ok()) {
        FacadeIds f = LookUpFacade(o.facade, *reader_token, last->study_uid, last->communication_id);
        ids << "FACADE_COMMUNICATION_STATUS=" << f.communication_status << "\n"
            << "DIAGNOSTIC_REPORT_ID=" << f.diagnostic_report_id << "\n";
        if (!f.note.empty()) std::cerr << "parallax-alert-bench: " << f.note << "\n";
      }
    }
  }
  return 0;
}
