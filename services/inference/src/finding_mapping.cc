#include "finding_mapping.h"

#include <algorithm>
#include <cctype>

#include "parallax/crypto/sha256.h"

namespace parallax::inference_service {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

common::v1::ModelRef RefOf(const inference::ModelManifest& manifest) {
  common::v1::ModelRef ref;
  ref.set_model_id(manifest.id);
  ref.set_model_version(manifest.version);
  ref.set_device_uid(manifest.device_uid);
  return ref;
}

}  // namespace

std::string FindingId(const std::string& study_instance_uid, int64_t generation, const std::string& device_uid,
                      const std::string& label) {
  std::string key = study_instance_uid;
  key.push_back('\0');
  key += std::to_string(generation);
  key.push_back('\0');
  key += device_uid;
  key.push_back('\0');
  key += label;
  return "f-" + crypto::Sha256Hex(key).substr(0, 32);
}

inference::v1::ModelResult FailedModelResult(const inference::ModelManifest& manifest,
                                             inference::v1::ModelOutcome outcome, const std::string& error) {
  inference::v1::ModelResult result;
  *result.mutable_model() = RefOf(manifest);
  result.set_outcome(outcome);
  result.set_error(error);
  return result;
}

inference::v1::ModelResult ToModelResult(const inference::ModelManifest& manifest,
                                         const inference::StudyAnalysis& analysis,
                                         const common::v1::StudyRef& study,
                                         const std::vector<common::v1::QualityFlag>& quality_flags) {
  if (!analysis.applies) {
    return FailedModelResult(manifest, inference::v1::MODEL_OUTCOME_NOT_APPLICABLE, analysis.reason);
  }
  inference::v1::ModelResult result;
  *result.mutable_model() = RefOf(manifest);
  result.set_outcome(inference::v1::MODEL_OUTCOME_OK);

  int summary = -1;
  for (size_t i = 0; i < analysis.labels.size(); ++i) {
    if (inference::IsAnyHaemorrhageLabel(analysis.labels[i].name)) summary = static_cast<int>(i);
  }
  // The most probable subtype, for a positive summary finding.
  int best_subtype = -1;
  if (summary >= 0 && analysis.labels[static_cast<size_t>(summary)].positive) {
    for (size_t i = 0; i < analysis.labels.size(); ++i) {
      if (static_cast<int>(i) == summary) continue;
      if (best_subtype < 0 || analysis.labels[i].probability > analysis.labels[best_subtype].probability) {
        best_subtype = static_cast<int>(i);
      }
    }
  }
  const inference::MeasurementResult* ich_volume = nullptr;
  for (const inference::MeasurementResult& m : analysis.measurements) {
    if (!m.available) continue;
    common::v1::Measurement* out = result.add_measurements();
    out->set_name(m.name);
    out->set_value(m.value);
    out->set_unit(m.unit);
    if (m.name == "ich_volume") {
      ich_volume = &m;
      // SNOMED CT 118565006 |Volume (property)|: the quantity measured.
      out->mutable_code()->set_system("http://snomed.info/sct");
      out->mutable_code()->set_code("118565006");
      out->mutable_code()->set_display("Volume");
    }
  }

  const inference::AnalysedSeries* primary = analysis.series.empty() ? nullptr : &analysis.series.front();
  for (size_t i = 0; i < analysis.labels.size(); ++i) {
    const inference::LabelResult& label = analysis.labels[i];
    const inference::Label* spec = i < manifest.labels.size() ? &manifest.labels[i] : nullptr;
    common::v1::Finding* f = result.add_findings();
    f->set_finding_id(FindingId(study.study_instance_uid(), study.generation(), manifest.device_uid, label.name));
    f->set_label(label.name);
    if (spec != nullptr) {
      f->mutable_code()->set_system(spec->code.system);
      f->mutable_code()->set_code(spec->code.code);
      f->mutable_code()->set_display(spec->code.display);
    }
    if (summary >= 0 && static_cast<int>(i) != summary) {
      f->set_subtype(Lower(label.name));
    } else if (static_cast<int>(i) == summary && best_subtype >= 0) {
      f->set_subtype(Lower(analysis.labels[best_subtype].name));
    }
    f->set_probability(label.probability);
    f->set_operating_point(label.operating_point);
    f->set_positive(label.positive);
    f->set_laterality(common::v1::LATERALITY_UNSPECIFIED);
    if (static_cast<int>(i) == summary && label.positive && ich_volume != nullptr) {
      f->set_volume_ml(ich_volume->value);  // mL and cm3 are the same quantity
      common::v1::Measurement* m = f->add_measurements();
      *m = *std::find_if(result.measurements().begin(), result.measurements().end(),
                         [](const common::v1::Measurement& x) { return x.name() == "ich_volume"; });
    }
    for (common::v1::QualityFlag q : quality_flags) f->add_quality_flags(q);
    *f->mutable_model() = RefOf(manifest);
    if (primary != nullptr) {
      f->set_series_instance_uid(primary->series_instance_uid);
      const auto& uids = primary->sop_instance_uids;
      const auto& items = label.item_probabilities;
      bool any = false;
      for (size_t k = 0; k < items.size() && k < uids.size(); ++k) {
        if (items[k] >= label.operating_point) {
          f->add_source_sop_instance_uids(uids[k]);
          any = true;
        }
      }
      if (!any && label.max_item >= 0 && static_cast<size_t>(label.max_item) < uids.size()) {
        f->add_source_sop_instance_uids(uids[static_cast<size_t>(label.max_item)]);
      } else if (!any && items.empty()) {
        for (const std::string& uid : uids) f->add_source_sop_instance_uids(uid);
      }
    }
  }
  return result;
}

inference::v1::StudyDecision Decide(const std::vector<inference::v1::ModelResult>& results) {
  bool positive = false, any_ok = false, any_bad = false;
  for (const inference::v1::ModelResult& r : results) {
    for (const common::v1::Finding& f : r.findings()) positive = positive || f.positive();
    if (r.outcome() == inference::v1::MODEL_OUTCOME_OK) any_ok = true;
    else if (r.outcome() != inference::v1::MODEL_OUTCOME_NOT_APPLICABLE) any_bad = true;
  }
  if (positive) return inference::v1::STUDY_DECISION_POSITIVE;
  if (any_bad || !any_ok) return inference::v1::STUDY_DECISION_INDETERMINATE;
  return inference::v1::STUDY_DECISION_NEGATIVE;
}

}  // namespace parallax::inference_service
