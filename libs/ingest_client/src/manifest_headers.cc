#include "parallax/ingest_client/manifest_headers.h"

#include <unordered_map>

namespace parallax::ingest_client {

dicom::InstanceHeader ToInstanceHeader(const common::v1::StudyManifest& study,
                                       const common::v1::SeriesManifest& series,
                                       const common::v1::InstanceManifest& i) {
  dicom::InstanceHeader h;
  h.sop_class_uid = i.sop_class_uid();
  h.sop_instance_uid = i.sop_instance_uid();
  h.study_instance_uid = study.study_instance_uid();
  h.series_instance_uid = series.series_instance_uid();
  h.transfer_syntax_uid = i.transfer_syntax_uid();
  h.patient_id = study.patient_id();
  h.issuer_of_patient_id = study.issuer_of_patient_id();
  h.accession_number = study.accession_number();
  h.study_date = study.study_date();
  h.study_time = study.study_time();
  h.study_description = study.study_description();
  h.referring_physician = study.referring_physician();
  h.requested_priority = study.requested_priority();
  h.modality = series.modality();
  h.body_part_examined = i.body_part_examined().empty() ? series.body_part_examined() : i.body_part_examined();
  h.series_description = series.series_description();
  h.protocol_name = series.protocol_name();
  h.series_number = series.series_number();
  h.laterality = series.laterality();
  h.instance_number = i.instance_number();
  h.view_position = i.view_position();
  h.image_type.assign(i.image_type().begin(), i.image_type().end());
  h.image_orientation_patient.assign(i.image_orientation_patient().begin(), i.image_orientation_patient().end());
  h.image_position_patient.assign(i.image_position_patient().begin(), i.image_position_patient().end());
  h.pixel_spacing.assign(i.pixel_spacing().begin(), i.pixel_spacing().end());
  h.slice_thickness = i.slice_thickness();
  h.rows = i.rows();
  h.columns = i.columns();
  h.number_of_frames = i.number_of_frames() > 0 ? i.number_of_frames() : 1;
  h.photometric_interpretation = i.photometric_interpretation();
  h.bits_stored = i.bits_stored();
  h.patient_orientation = i.patient_orientation();
  return h;
}

const common::v1::SeriesManifest* FindSeries(const common::v1::StudyManifest& study,
                                             const std::string& series_instance_uid) {
  for (const common::v1::SeriesManifest& s : study.series()) {
    if (s.series_instance_uid() == series_instance_uid) return &s;
  }
  return nullptr;
}

std::vector<dicom::InstanceHeader> ToInstanceHeaders(const common::v1::StudyManifest& study) {
  std::vector<dicom::InstanceHeader> out;
  for (const common::v1::SeriesManifest& s : study.series()) {
    for (const common::v1::InstanceManifest& i : s.instances()) out.push_back(ToInstanceHeader(study, s, i));
  }
  return out;
}

common::v1::StudyManifest ManifestFromHeaders(std::span<const dicom::InstanceHeader> headers) {
  common::v1::StudyManifest m;
  if (headers.empty()) return m;
  const dicom::InstanceHeader& first = headers.front();
  m.set_study_instance_uid(first.study_instance_uid);
  m.set_patient_id(first.patient_id);
  m.set_issuer_of_patient_id(first.issuer_of_patient_id);
  m.set_accession_number(first.accession_number);
  m.set_study_date(first.study_date);
  m.set_study_time(first.study_time);
  m.set_study_description(first.study_description);
  m.set_referring_physician(first.referring_physician);
  m.set_requested_priority(first.requested_priority);
  m.set_generation(1);
  std::unordered_map<std::string, common::v1::SeriesManifest*> series;
  for (const dicom::InstanceHeader& h : headers) {
    common::v1::SeriesManifest*& s = series[h.series_instance_uid];
    if (s == nullptr) {
      s = m.add_series();
      s->set_series_instance_uid(h.series_instance_uid);
      s->set_modality(h.modality);
      s->set_body_part_examined(h.body_part_examined);
      s->set_series_description(h.series_description);
      s->set_protocol_name(h.protocol_name);
      s->set_series_number(h.series_number);
      s->set_laterality(h.laterality);
    }
    common::v1::InstanceManifest* i = s->add_instances();
    i->set_sop_instance_uid(h.sop_instance_uid);
    i->set_sop_class_uid(h.sop_class_uid);
    i->set_transfer_syntax_uid(h.transfer_syntax_uid);
    i->set_instance_number(h.instance_number);
    i->set_view_position(h.view_position);
    for (const std::string& t : h.image_type) i->add_image_type(t);
    for (double v : h.image_orientation_patient) i->add_image_orientation_patient(v);
    for (double v : h.image_position_patient) i->add_image_position_patient(v);
    for (double v : h.pixel_spacing) i->add_pixel_spacing(v);
    i->set_slice_thickness(h.slice_thickness);
    i->set_rows(h.rows);
    i->set_columns(h.columns);
    i->set_number_of_frames(h.number_of_frames);
    i->set_photometric_interpretation(h.photometric_interpretation);
    i->set_bits_stored(h.bits_stored);
    i->set_patient_orientation(h.patient_orientation);
    i->set_body_part_examined(h.body_part_examined);
  }
  return m;
}

}  // namespace parallax::ingest_client
