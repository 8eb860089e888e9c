#!/usr/bin/python3
"""Builds the probe models the study analyzer tests use (libs/inference/tests/data).

Usage: libs/inference/tests/make_probe_models.py <out-dir>

Writes, deterministically (fixed weights, no randomness):
  probe_ct.pt / probe_ct.json     head CT, 3 windowed channels, 32 x 32, per
                                  slice (depth 1), 6 labels ("any" + the 5
                                  haemorrhage subtypes), measurement ich_volume
  probe_mri.pt / probe_mri.json   brain MRI, 2 channels from the series roles
                                  T1_POST_CONTRAST and FLAIR, volume z-score,
                                  32 x 32, per slice, 4 labels

Both follow the Parallax model contract: features(x) = relu(x) (1x1
identity convolution, [N,C,32,32]), head(f) = linear(mean over H,W) ->
logits, forward(x) = head(features(x)). The logits are a fixed linear
function of the per-channel means, so a slice's probabilities depend on its
content and on which channel holds which series. Not clinical models.
Runs with Debian's python3-torch (1.13), hence /usr/bin/python3.
"""
import json
import os
import sys

import torch
from torch import nn


class Probe(nn.Module):
    def __init__(self, channels, weights, biases):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=1, bias=False)
        self.fc = nn.Linear(channels, len(biases))
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(channels).reshape(channels, channels, 1, 1))
            self.fc.weight.copy_(torch.tensor(weights, dtype=torch.float32))
            self.fc.bias.copy_(torch.tensor(biases, dtype=torch.float32))

    @torch.jit.export
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))

    @torch.jit.export
    def head(self, f: torch.Tensor) -> torch.Tensor:
        return self.fc(f.mean(dim=[2, 3]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def code(c, display):
    return {"system": "http://snomed.info/sct", "code": c, "display": display}


def main(out):
    os.makedirs(out, exist_ok=True)
    ct_labels = [("any", "1386000", "Intracranial haemorrhage"),
                 ("epidural", "68752002", "Epidural haemorrhage"),
                 ("subdural", "35486000", "Subdural haemorrhage"),
                 ("subarachnoid", "21454007", "Subarachnoid haemorrhage"),
                 ("intraparenchymal", "274100004", "Cerebral haemorrhage"),
                 ("intraventricular", "230706003", "Intraventricular haemorrhage")]
    ct = Probe(3, [[8.0, -2.0, 1.0], [4.0, 1.0, 0.0], [-3.0, 2.0, 1.0],
                   [2.0, 2.0, -1.0], [6.0, 0.0, 0.5], [1.0, -1.0, 2.0]],
               [-1.0, -2.0, 0.5, 0.0, -1.5, 0.2])
    ct_manifest = {
        "id": "parallax.test.probe_ct", "version": "0.0.1",
        "device_uid": "2.25.118422914871260932751208497014519318813",
        "applies_to": {"modality": ["CT"], "body_part": ["HEAD"], "view_position": []},
        "input": {"channels": 3, "height": 32, "width": 32, "depth": 1,
                  "windows": [{"center": 40, "width": 80}, {"center": 80, "width": 200},
                              {"center": 600, "width": 2800}]},
        "labels": [{"name": n, "code": code(c, d), "operating_point": 0.5} for n, c, d in ct_labels],
        "measurements": [{"name": "ich_volume", "unit": "mL"}],
    }
    mri_labels = [("enhancing_tumour", "1255079003", "Enhancing tumour"),
                  ("non_enhancing_lesion", "126952004", "Brain lesion"),
                  ("metastases", "94225005", "Secondary malignant neoplasm of brain"),
                  ("white_matter_lesions", "230745008", "White matter lesion")]
    mri = Probe(2, [[1.5, -0.5], [-0.5, 1.5], [2.0, 0.0], [0.0, 2.0]], [0.0, 0.1, -0.2, 0.3])
    mri_manifest = {
        "id": "parallax.test.probe_mri", "version": "0.0.1",
        "device_uid": "2.25.299541186423300817012345870954433217521",
        "applies_to": {"modality": ["MR"], "body_part": ["BRAIN"], "view_position": []},
        "input": {"channels": 2, "height": 32, "width": 32, "depth": 1,
                  "normalisation": {"mode": "volume_zscore"},
                  "series": ["T1_POST_CONTRAST", "FLAIR"]},
        "labels": [{"name": n, "code": code(c, d), "operating_point": 0.5} for n, c, d in mri_labels],
    }
    for name, model, manifest in (("probe_ct", ct, ct_manifest), ("probe_mri", mri, mri_manifest)):
        model.eval()
        torch.jit.script(model).save(os.path.join(out, name + ".pt"))
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
