// The FhirFacade gRPC service on a real PostgreSQL: reports as versioned
// DiagnosticReports with Observations and an ImagingStudy, the report status
// rules, manifests read from ingest, the other Publish calls, the outbox
// status, and the whole path to the EHR test double.
#include "facade_service.h"

#include <map>
#include <memory>

#include <catch2/catch.hpp>
#include <grpcpp/grpcpp.h>

#include "ehr_delivery.h"
#include "ehr_recorder.h"
#include "fhir_http.h"
#include "parallax/http/server.h"
#include "parallax/rpc/rpc_server.h"
#include "store_fixture.h"

namespace parallax::fhir_facade {
namespace {

namespace v1 = ::parallax::fhir::v1;
using nlohmann::json;
using testing::StoreFixture;

constexpr char kStudy[] = "1.2.826.0.1.3680043.10.1234.1";

common::v1::StudyManifest Manifest() {
  common::v1::StudyManifest m;
  m.set_study_instance_uid(kStudy);
  m.set_patient_id("PAT-0042");
  m.set_accession_number("ACC-77");
  m.set_study_date("20261204");
  m.set_study_time("101500");
  m.set_study_description("CHEST PA");
  auto* series = m.add_series();
  series->set_series_instance_uid(std::string(kStudy) + ".1");
  series->set_modality("DX");
  series->set_body_part_examined("CHEST");
  series->set_series_number(1);
  auto* instance = series->add_instances();
  instance->set_sop_instance_uid(std::string(kStudy) + ".1.1");
  instance->set_sop_class_uid("1.2.840.10008.5.1.4.1.1.1.1");
  instance->set_instance_number(1);
  return m;
}

common::v1::Finding Finding(const std::string& id, const std::string& label, bool positive) {
  common::v1::Finding f;
  f.set_finding_id(id);
  f.set_label(label);
  f.mutable_code()->set_system("http://snomed.info/sct");
  f.mutable_code()->set_code(label == "pneumothorax" ? "36118008" : "60046008");
  f.mutable_code()->set_display(label);
  f.set_probability(positive ? 0.91 : 0.04);
  f.set_operating_point(0.5);
  f.set_positive(positive);
  f.set_laterality(common::v1::LATERALITY_RIGHT);
  f.mutable_model()->set_model_id("parallax.cxr");
  f.mutable_model()->set_model_version("1.0.0");
  f.mutable_model()->set_device_uid("1.2.826.0.1.3680043.10.1234.9");
  return f;
}

v1::PublishReportRequest Report(v1::ReportStatus status, bool with_manifest = true) {
  v1::PublishReportRequest r;
  r.set_report_id("report-17");
  r.set_report_version(1);
  r.set_status(status);
  r.mutable_study()->set_study_instance_uid(kStudy);
  r.mutable_study()->set_generation(1);
  if (with_manifest) *r.mutable_manifest() = Manifest();
  *r.add_observations()->mutable_finding() = Finding("finding-a", "pneumothorax", true);
  *r.add_observations()->mutable_finding() = Finding("finding-b", "pleural effusion", false);
  r.set_conclusion("Right pneumothorax suspected by the AI.");
  r.mutable_issued()->set_seconds(1796378400);
  if (status != v1::REPORT_STATUS_PRELIMINARY) r.add_results_interpreter_user_ids("dr.house");
  return r;
}

// Ingest's GetStudy as a map; UNAVAILABLE when told to be down.
class MapStudySource final : public ingest_client::StudySource {
 public:
  absl::StatusOr<common::v1::StudyManifest> GetStudy(const std::string& uid, ingest_client::Deadline) override {
    if (down) return absl::UnavailableError("ingest is down");
    auto it = studies.find(uid);
    if (it == studies.end()) return absl::NotFoundError("unknown study");
    return it->second;
  }
  absl::StatusOr<std::string> ReadInstance(const std::string&, ingest_client::Deadline) override {
    return absl::UnimplementedError("not needed");
  }
  std::map<std::string, common::v1::StudyManifest> studies;
  bool down = false;
};

struct Facade {
  StoreFixture f;
  MapStudySource ingest;
  std::unique_ptr<FacadeService> service;
  std::unique_ptr<rpc::RpcServer> server;
  std::unique_ptr<v1::FhirFacade::Stub> stub;
  explicit Facade(const std::string& purpose) : f(purpose) {
    service = std::make_unique<FacadeService>(f.store.get(), f.outbox.get(), &ingest, FacadeServiceOptions{});
    server = std::make_unique<rpc::RpcServer>(rpc::RpcServerOptions{"127.0.0.1:0"});
    server->Register(service.get(), "parallax.fhir.v1.FhirFacade");
    REQUIRE(server->Start().ok());
    stub = v1::FhirFacade::NewStub(rpc::MakeChannel("127.0.0.1:" + std::to_string(server->port())));
  }
  ~Facade() { server->Shutdown(); }
  grpc::Status PublishReport(const v1::PublishReportRequest& request, v1::PublishReportResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub->PublishReport(&context, request, response);
  }
  v1::GetOutboxStatusResponse Status(const v1::GetOutboxStatusRequest& request, grpc::Status* status = nullptr) {
    grpc::ClientContext context;
    v1::GetOutboxStatusResponse response;
    grpc::Status s = stub->GetOutboxStatus(&context, request, &response);
    if (status != nullptr) *status = s;
    else REQUIRE(s.ok());
    return response;
  }
};

TEST_CASE("a report published preliminary then final is one DiagnosticReport in two versions", "[fhir_facade][db]") {
  Facade t("fhir_service_versions");
  v1::PublishReportResponse preliminary, final_report;
  grpc::Status s = t.PublishReport(Report(v1::REPORT_STATUS_PRELIMINARY), &preliminary);
  REQUIRE(s.ok());
  CHECK(preliminary.report().resource_type() == v1::RESOURCE_TYPE_DIAGNOSTIC_REPORT);
  CHECK(preliminary.report().resource_id() == fhir::LogicalId("dr", "report-17"));
  CHECK(preliminary.report().version_id() == "1");
  CHECK_FALSE(preliminary.report().duplicate());
  CHECK_FALSE(preliminary.report().outbox_entry_id().empty());
  REQUIRE(preliminary.observations_size() == 2);
  CHECK(preliminary.observations(0).resource_type() == v1::RESOURCE_TYPE_OBSERVATION);

  REQUIRE(t.PublishReport(Report(v1::REPORT_STATUS_FINAL), &final_report).ok());
  CHECK(final_report.report().resource_id() == preliminary.report().resource_id());
  CHECK(final_report.report().version_id() == "2");
  CHECK(final_report.observations(0).resource_id() == preliminary.observations(0).resource_id());
  CHECK(final_report.observations(0).version_id() == "2");

  auto current = t.f.store->Read("DiagnosticReport", final_report.report().resource_id());
  REQUIRE(current.ok());
  CHECK(current->resource["status"] == "final");
  CHECK(current->resource["result"].size() == 2);
  auto first = t.f.store->ReadVersion("DiagnosticReport", final_report.report().resource_id(), 1);
  REQUIRE(first.ok());
  CHECK(first->resource["status"] == "preliminary");
  auto study = t.f.store->Read("ImagingStudy", fhir::LogicalId("is", kStudy));
  REQUIRE(study.ok());
  CHECK(study->version_id == 1);  // unchanged by the second publish

  // Searchable by patient and study.
  auto q = ParseSearchQuery(std::string("patient=PAT-0042&study=") + kStudy);
  REQUIRE(q.ok());
  auto found = t.f.store->Search("DiagnosticReport", *q);
  REQUIRE(found.ok());
  CHECK(found->total == 1);

  // The unsent preliminary entry is superseded; its status shows the final one's.
  v1::GetOutboxStatusRequest ask;
  ask.add_outbox_entry_ids(preliminary.report().outbox_entry_id());
  v1::GetOutboxStatusResponse status = t.Status(ask);
  REQUIRE(status.entries_size() == 1);
  CHECK(status.entries(0).state() == v1::OUTBOX_STATE_PENDING);
  CHECK(status.entries(0).last_error().rfind("superseded by outbox entry " + final_report.report().outbox_entry_id(),
                                             0) == 0);
  CHECK(status.pending() == 4);  // ImagingStudy, 2 Observations, report
}

TEST_CASE("an identical resend of a report is a duplicate and queues nothing", "[fhir_facade][db]") {
  Facade t("fhir_service_duplicate");
  v1::PublishReportResponse first, again;
  REQUIRE(t.PublishReport(Report(v1::REPORT_STATUS_PRELIMINARY), &first).ok());
  REQUIRE(t.PublishReport(Report(v1::REPORT_STATUS_PRELIMINARY), &again).ok());
  CHECK(again.report().duplicate());
  CHECK(again.report().version_id() == "1");
  CHECK(again.report().outbox_entry_id() == first.report().outbox_entry_id());
  CHECK(again.observations(1).duplicate());
  CHECK(t.f.Count("SELECT count(*) FROM fhir.outbox") == 4);
}

TEST_CASE("report status rules refuse amended before final and preliminary after final", "[fhir_facade][db]") {
  Facade t("fhir_service_status_rules");
  v1::PublishReportResponse response;
  grpc::Status amended_first = t.PublishReport(Report(v1::REPORT_STATUS_AMENDED), &response);
  CHECK(amended_first.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(t.f.Count("SELECT count(*) FROM fhir.resources") == 0);
  CHECK(t.f.Count("SELECT count(*) FROM fhir.outbox") == 0);

  REQUIRE(t.PublishReport(Report(v1::REPORT_STATUS_PRELIMINARY), &response).ok());
  CHECK(t.PublishReport(Report(v1::REPORT_STATUS_AMENDED), &response).error_code() ==
        grpc::StatusCode::FAILED_PRECONDITION);
  REQUIRE(t.PublishReport(Report(v1::REPORT_STATUS_FINAL), &response).ok());
  CHECK(t.PublishReport(Report(v1::REPORT_STATUS_PRELIMINARY), &response).error_code() ==
        grpc::StatusCode::FAILED_PRECONDITION);
  v1::PublishReportRequest amendment = Report(v1::REPORT_STATUS_AMENDED);
  amendment.set_conclusion("Amended: small right apical pneumothorax.");
  REQUIRE(t.PublishReport(amendment, &response).ok());
  CHECK(response.report().version_id() == "3");
  CHECK(t.PublishReport(Report(v1::REPORT_STATUS_FINAL), &response).error_code() ==
        grpc::StatusCode::FAILED_PRECONDITION);

  v1::PublishReportRequest no_id = Report(v1::REPORT_STATUS_FINAL);
  no_id.clear_report_id();
  CHECK(t.PublishReport(no_id, &response).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  v1::PublishReportRequest no_status = Report(v1::REPORT_STATUS_UNSPECIFIED);
  CHECK(t.PublishReport(no_status, &response).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_CASE("a report without a manifest takes it from ingest", "[fhir_facade][db]") {
  Facade t("fhir_service_manifest");
  v1::PublishReportResponse response;
  CHECK(t.PublishReport(Report(v1::REPORT_STATUS_PRELIMINARY, false), &response).error_code() ==
        grpc::StatusCode::FAILED_PRECONDITION);  // ingest does not know the study
  t.ingest.studies[kStudy] = Manifest();
  t.ingest.down = true;
  CHECK(t.PublishReport(Report(v1::REPORT_STATUS_PRELIMINARY, false), &response).error_code() ==
        grpc::StatusCode::UNAVAILABLE);
  t.ingest.down = false;
  REQUIRE(t.PublishReport(Report(v1::REPORT_STATUS_PRELIMINARY, false), &response).ok());
  auto dr = t.f.store->Read("DiagnosticReport", response.report().resource_id());
  REQUIRE(dr.ok());
  CHECK(dr->resource["subject"]["identifier"]["value"] == "PAT-0042");
  // The same content as with the manifest given: a duplicate.
  REQUIRE(t.PublishReport(Report(v1::REPORT_STATUS_PRELIMINARY, true), &response).ok());
  CHECK(response.report().duplicate());
}

TEST_CASE("alerts, escalation cases and audit entries become Communication, Task and AuditEvent",
          "[fhir_facade][db]") {
  Facade t("fhir_service_others");
  t.ingest.studies[kStudy] = Manifest();
  v1::PublishCommunicationRequest alert;
  alert.set_alert_id("alert-5");
  alert.mutable_study()->set_study_instance_uid(kStudy);
  *alert.mutable_finding() = Finding("finding-a", "pneumothorax", true);
  alert.set_priority(v1::COMMUNICATION_PRIORITY_STAT);
  alert.set_recipient_group("thoracic-radiology");
  alert.set_payload_text("Suspected right pneumothorax (AI, p=0.91).");
  alert.set_diagnostic_report_id("report-17");
  auto comm = t.service->Publish(alert);
  REQUIRE(comm.ok());
  CHECK(comm->communication().resource_type() == v1::RESOURCE_TYPE_COMMUNICATION);
  CHECK(comm->communication().resource_id() == fhir::LogicalId("comm", "alert-5"));
  auto stored_comm = t.f.store->Read("Communication", comm->communication().resource_id());
  REQUIRE(stored_comm.ok());
  CHECK(stored_comm->resource["about"][0]["reference"] == "DiagnosticReport/" + fhir::LogicalId("dr", "report-17"));

  v1::PublishTaskRequest task;
  task.set_case_id("case-9");
  task.set_status(v1::TASK_STATUS_REQUESTED);
  task.mutable_study()->set_study_instance_uid(kStudy);
  task.set_owner_group("senior-radiologists");
  task.set_description("AI finding rejected; senior review requested.");
  auto requested = t.service->Publish(task);
  REQUIRE(requested.ok());
  task.set_status(v1::TASK_STATUS_COMPLETED);
  task.set_outcome_text("AI finding confirmed.");
  auto completed = t.service->Publish(task);
  REQUIRE(completed.ok());
  CHECK(completed->task().resource_id() == requested->task().resource_id());
  CHECK(completed->task().version_id() == "2");
  auto stored_task = t.f.store->Read("Task", completed->task().resource_id());
  REQUIRE(stored_task.ok());
  CHECK(stored_task->resource["status"] == "completed");
  CHECK(stored_task->resource["for"]["identifier"]["value"] == "PAT-0042");

  v1::PublishAuditEventRequest audit;
  audit.mutable_event()->set_event_id("evt-1");
  audit.mutable_event()->set_sequence(12);
  audit.mutable_event()->set_type(audit::v1::EVENT_TYPE_FINDING_ACCEPTED);
  audit.mutable_event()->set_service("escalation");
  audit.mutable_event()->mutable_actor()->set_kind(audit::v1::ACTOR_KIND_USER);
  audit.mutable_event()->mutable_actor()->set_user_id("dr.house");
  audit.mutable_event()->mutable_occurred_at()->set_seconds(1796378400);
  audit.mutable_event()->mutable_recorded_at()->set_seconds(1796378401);
  audit.mutable_event()->mutable_subject()->set_study_instance_uid(kStudy);
  auto event = t.service->Publish(audit);
  REQUIRE(event.ok());
  CHECK(event->audit_event().resource_id() == fhir::LogicalId("audit", "12"));
  CHECK(event->audit_event().resource_type() == v1::RESOURCE_TYPE_AUDIT_EVENT);

  CHECK(t.service->Publish(v1::PublishCommunicationRequest()).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(t.service->Publish(v1::PublishTaskRequest()).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(t.service->Publish(v1::PublishAuditEventRequest()).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("GetOutboxStatus counts entries, shows dead ones, and refuses unknown ids", "[fhir_facade][db]") {
  Facade t("fhir_service_outbox_status");
  v1::PublishReportResponse report;
  REQUIRE(t.PublishReport(Report(v1::REPORT_STATUS_FINAL), &report).ok());
  // The EHR refuses the first entry (the ImagingStudy) for good.
  auto claimed = t.f.outbox->Claim("test", std::chrono::seconds(30));
  REQUIRE(claimed.ok());
  REQUIRE(claimed->has_value());
  REQUIRE(t.f.outbox->Fail(**claimed, 422, "EHR refused the resource: HTTP 422", false).ok());

  v1::GetOutboxStatusRequest ask;
  ask.set_state(v1::OUTBOX_STATE_DEAD);
  ask.add_outbox_entry_ids(report.report().outbox_entry_id());
  v1::GetOutboxStatusResponse status = t.Status(ask);
  CHECK(status.dead() == 1);
  CHECK(status.pending() == 3);
  CHECK(status.delivered() == 0);
  CHECK(status.oldest_pending_enqueued_at().seconds() > 0);
  REQUIRE(status.entries_size() == 2);
  CHECK(status.entries(0).outbox_entry_id() == report.report().outbox_entry_id());
  CHECK(status.entries(0).state() == v1::OUTBOX_STATE_PENDING);
  CHECK(status.entries(1).state() == v1::OUTBOX_STATE_DEAD);
  CHECK(status.entries(1).last_http_status() == 422);
  CHECK(status.entries(1).attempts() == 1);
  CHECK(status.entries(1).last_error() == "EHR refused the resource: HTTP 422");

  v1::GetOutboxStatusRequest unknown;
  unknown.add_outbox_entry_ids("999999");
  grpc::Status refused;
  t.Status(unknown, &refused);
  CHECK(refused.error_code() == grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("published results reach the EHR test double once each, as their newest versions", "[fhir_facade][db]") {
  Facade t("fhir_service_end_to_end");
  EhrRecorder recorder({"/fhir"});
  http::Router router;
  recorder.AddRoutes(router);
  http::Server ehr({.port = 0, .threads = 4}, std::move(router));
  REQUIRE(ehr.Start().ok());
  DeliveryOptions options;
  options.ehr_base_url = "http://127.0.0.1:" + std::to_string(ehr.port()) + "/fhir";
  options.poll_interval = std::chrono::milliseconds(50);
  options.listen_url = t.f.url;
  DeliveryWorker worker(t.f.outbox.get(), nullptr, options);
  REQUIRE(worker.Start().ok());
  auto delivered = [&] {
    for (int i = 0; i < 500; ++i) {
      auto c = t.f.outbox->Counts();
      if (c.ok() && c->pending + c->retrying + c->delivering == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  };

  v1::PublishReportResponse response;
  REQUIRE(t.PublishReport(Report(v1::REPORT_STATUS_PRELIMINARY), &response).ok());
  REQUIRE(delivered());
  REQUIRE(t.PublishReport(Report(v1::REPORT_STATUS_FINAL), &response).ok());
  REQUIRE(delivered());
  worker.Stop();

  json stats = recorder.Stats();
  CHECK(stats["duplicate_identifiers"] == 0);
  CHECK(stats["resources"]["DiagnosticReport"] == 1);
  CHECK(stats["resources"]["Observation"] == 2);
  CHECK(stats["resources"]["ImagingStudy"] == 1);
  CHECK(stats["creates"] == 4);
  CHECK(stats["updates"] == 3);  // report and Observations went final
  json at_ehr = recorder.Get("DiagnosticReport", response.report().resource_id());
  CHECK(at_ehr["status"] == "final");
  CHECK(at_ehr["result"][0]["reference"] == "Observation/" + response.observations(0).resource_id());
  CHECK(recorder.Get("Observation", response.observations(0).resource_id())["status"] == "final");
}

}  // namespace
}  // namespace parallax::fhir_facade
