"""Bio-BLIP: modality encoders + master Q-former + heads, and its checkpoint format.

Checkpoint = `config.json` (BioBlipConfig) + `model.safetensors` (trainable parts only, fp16 by default)
+ `metadata.json` (splits, calibration, training log: whatever the trainer records). The frozen LLM is
referenced by `llm_name`/`llm_sha256`, never copied.

Matching head (VTM): the "text" side is a frozen sentence embedding of the annotation text; it is
projected to d and joins the queries in self-attention as one extra token (BLIP-2 ITM lets the queries
see the text through self-attention the same way); the logit is the mean over queries of a linear head.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from biblip_cli.errors import BiblipError
from biblip_cli.features import inputs as I
from biblip_cli.features.inputs import VariantInputs
from biblip_cli.model.config import BioBlipConfig
from biblip_cli.model.encoders import ModalityEncoders
from biblip_cli.model.qformer import QFormer

CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE = "config.json", "model.safetensors", "metadata.json"
# modules added after checkpoints were shipped; an older checkpoint loads with them at init (the
# activity token is masked unless activity is given; metadata `target_head` says whether they are trained)
LATER_MODULES = ("encoders.activity.", "regulates_head.", "evidence_head.", "describe_delta.")


class BioBlip(nn.Module):
    def __init__(self, config: BioBlipConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.encoders = ModalityEncoders(config)
        self.qformer = QFormer(config)
        # VTC: queries and text into one space; similarity = max over queries (BLIP-2 ITC)
        self.vtc_variant = nn.Linear(d, config.vtc_dim)
        self.vtc_text = nn.Linear(config.text_dim, config.vtc_dim)
        self.vtc_logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        # VTM: text embedding as one extra self-attention token
        self.vtm_text = nn.Linear(config.text_dim, d)
        self.vtm_head = nn.Linear(d, 1)
        # cheap path: pathogenicity straight from Z, no LLM
        self.pathogenicity_head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1))
        # ... plus a residual read straight from the protein row (substitution, position, window, paralog
        # evidence) where the residue window is known: within a gene this is what tells two changes apart
        # (docs/model_card.md); the last layer starts at zero, so an untrained residual changes nothing
        self.evidence_head = nn.Sequential(
            nn.Linear(config.protein_feature_dim, 128),
            nn.GELU(),
            nn.Linear(128, 128),
            nn.GELU(),
            nn.Linear(128, 1),
        )
        nn.init.zeros_(self.evidence_head[-1].weight)
        nn.init.zeros_(self.evidence_head[-1].bias)
        # cheap path: "does this element regulate the asked-about gene?" straight from Z (biblip target)
        self.regulates_head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1))
        self.language_projection = nn.Linear(d, config.llm_hidden_size)
        # describe prefix: the same projection plus a residual trained on describe targets alone
        # (scripts/fit_describe_head.py), so the scoring prompts keep their prefix; zero at init
        self.describe_delta = nn.Sequential(
            nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, config.llm_hidden_size)
        )
        nn.init.zeros_(self.describe_delta[-1].weight)
        nn.init.zeros_(self.describe_delta[-1].bias)

    # --- inputs -> Z ---------------------------------------------------------------------------
    def drop_modalities(self, x: VariantInputs) -> VariantInputs:
        """Training only: hide whole modalities per example, so the model copes when one is missing."""
        p = self.config.modality_dropout
        if not self.training or p <= 0:
            return x
        keep = torch.rand(4, len(x), device=x.dna_mask.device) >= p
        return replace(
            x,
            dna_mask=x.dna_mask & keep[0],
            gene_mask=x.gene_mask & keep[1][:, None],
            protein_mask=x.protein_mask & keep[2],
            text_mask=x.text_mask & keep[3][:, None],
        )

    def encode(self, x: VariantInputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Modality tokens [B, N, d] and mask [B, N] (after modality dropout when training)."""
        return self.encoders(self.drop_modalities(x))

    def forward(self, x: VariantInputs) -> torch.Tensor:
        """Z [B, Nq, d]."""
        return self.qformer(*self.encode(x))

    # --- heads ---------------------------------------------------------------------------------
    def vtc_embed(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised per-query embeddings [B, Nq, vtc_dim]."""
        return F.normalize(self.vtc_variant(z), dim=-1)

    def vtc_text_embed(self, text_emb: torch.Tensor) -> torch.Tensor:
        """[B, text_dim] frozen sentence embeddings -> normalised [B, vtc_dim]."""
        return F.normalize(self.vtc_text(text_emb), dim=-1)

    def vtc_logits(self, z: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """Variant-to-text similarity [B_variant, B_text]: max over queries, times the learned temperature."""
        sim = torch.einsum("bqe,te->btq", self.vtc_embed(z), self.vtc_text_embed(text_emb)).amax(-1)
        return sim * self.vtc_logit_scale.clamp(max=math.log(100)).exp()

    def vtm_logits(self, tokens: torch.Tensor, mask: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """Does this text describe this variant? tokens/mask from `encode`, text_emb [B, text_dim] -> [B]."""
        z = self.qformer(tokens, mask, extra=self.vtm_text(text_emb)[:, None])
        return self.vtm_head(z).squeeze(-1).mean(-1)

    def pathogenicity_logit(self, z: torch.Tensor, x: VariantInputs | None = None) -> torch.Tensor:
        """Cheap path [B]: used by annotate without the LLM and by rank. With the inputs `x`, the
        evidence residual is added where the residue window is known (`x.protein_window_mask`)."""
        logit = self.pathogenicity_head(z.mean(1)).squeeze(-1)
        if x is None:
            return logit
        known = (x.protein_mask & x.protein_window_mask).to(logit.dtype)
        return logit + known * self.evidence_head(x.protein_features.to(logit.dtype)).squeeze(-1)

    def regulates_logit(self, z: torch.Tensor) -> torch.Tensor:
        """[B] logit that the element regulates the query gene (trained by scripts/fit_target_head.py)."""
        return self.regulates_head(z.mean(1)).squeeze(-1)

    def prefix(self, z: torch.Tensor) -> torch.Tensor:
        """Soft prefix for the frozen LLM [B, Nq, llm_hidden_size]."""
        return self.language_projection(z)

    def describe_prefix(self, z: torch.Tensor) -> torch.Tensor:
        """Soft prefix of the describe prompt [B, Nq, llm_hidden_size]: `prefix` + the describe residual."""
        return self.language_projection(z) + self.describe_delta(z)

    # --- checkpoint ----------------------------------------------------------------------------
    def save_pretrained(
        self, directory: str | Path, metadata: dict | None = None, dtype=torch.float16
    ) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE), metadata={"format": "pt"})
        (directory / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        (directory / METADATA_FILE).write_text(json.dumps(metadata or {}, indent=2, default=str) + "\n")

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> BioBlip:
        directory = Path(directory)
        config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
        for path in (config_path, weights_path):
            if not path.is_file():
                raise BiblipError(
                    f"{path.name} not found", where=str(directory), hint="pass a Bio-BLIP checkpoint folder"
                )
        raw = json.loads(config_path.read_text())
        known = {f.name for f in fields(BioBlipConfig)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise BiblipError(
                f"unknown config keys {unknown}",
                where=str(config_path),
                hint="checkpoint from a newer biblip?",
            )
        config = BioBlipConfig(**raw)
        narrow = config.protein_feature_dim < I.PROTEIN_FEATURE_DIM
        if narrow:  # an older checkpoint, before the evidence columns: they get zero weights (ignored)
            config.protein_feature_dim = I.PROTEIN_FEATURE_DIM
        config.check_dims(where=str(config_path))
        model = cls(config)
        state = load_file(str(weights_path))
        if narrow:
            key = "encoders.protein_features.0.weight"
            old = state[key]
            state[key] = torch.cat(
                [old, old.new_zeros(old.shape[0], I.PROTEIN_FEATURE_DIM - old.shape[1])], 1
            )
        expected = model.state_dict()
        for key in expected:  # a checkpoint from before the activity token / regulates head: keep init
            if key.startswith(LATER_MODULES) and key not in state:
                state[key] = expected[key]
        missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        bad_shape = [k for k in expected if k in state and state[k].shape != expected[k].shape]
        if missing or extra or bad_shape:
            raise BiblipError(
                f"weights do not match config.json (missing {missing[:3]}, unexpected {extra[:3]}, "
                f"wrong shape {bad_shape[:3]})",
                where=str(weights_path),
                hint="config.json and model.safetensors must come from the same `save_pretrained`",
            )
        model.load_state_dict({k: v.float() for k, v in state.items()})
        return model.to(device).eval()


def warm_start(model: BioBlip, directory: str | Path) -> dict[str, str]:
    """Initialise `model` from an earlier checkpoint whose inputs were narrower (training only).

    Same-shape tensors are copied; a weight that grew along its input axis (a feature row that gained
    columns, e.g. PROTEIN_FEATURE_DIM 64 -> 96) gets the old columns and zeros for the new ones, so the
    warm-started model computes exactly what the old one did until training moves the new weights.
    Returns what happened to each tensor that was not copied as is.
    """
    state = load_file(str(Path(directory) / WEIGHTS_FILE))
    target = model.state_dict()
    report: dict[str, str] = {}
    with torch.no_grad():
        for key, value in target.items():
            old = state.get(key)
            if old is None:
                report[key] = "new (kept its initialisation)"
            elif old.shape == value.shape:
                value.copy_(old.float())
            elif (
                old.dim() == value.dim() == 2
                and old.shape[0] == value.shape[0]
                and old.shape[1] < value.shape[1]
            ):
                value.zero_()
                value[:, : old.shape[1]] = old.float()
                report[key] = f"input columns {old.shape[1]} -> {value.shape[1]} (new columns zero)"
            else:
                report[key] = f"shape {tuple(old.shape)} -> {tuple(value.shape)}: kept its initialisation"
    return report


def update_checkpoint(model: BioBlip, directory: str | Path, key: str, entry: dict) -> None:
    """Write `model` over the checkpoint in `directory` with `metadata[key] = entry` (the scripts that fit
    a head after training): all three files are written beside it, then swapped in."""
    import os
    import tempfile

    directory = Path(directory)
    meta = read_metadata(directory)
    meta[key] = entry
    with tempfile.TemporaryDirectory(dir=directory.parent) as tmp:
        model.save_pretrained(tmp, metadata=meta)
        for name in (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE):
            os.replace(Path(tmp) / name, directory / name)


def checkpoint_metadata(directory: str | Path | None) -> dict:
    """A checkpoint's metadata.json before the model is loaded (None: the shipped checkpoint); {} when it
    cannot be read, so the loader's own error, with its hint, is the one the user sees."""
    from biblip_cli.paths import default_model_dir

    try:
        return read_metadata(directory or default_model_dir())
    except (OSError, ValueError):
        return {}


def read_metadata(directory: str | Path) -> dict:
    path = Path(directory) / METADATA_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def size_bytes(model: nn.Module, bytes_per_param: int = 2) -> int:
    return sum(p.numel() for p in model.state_dict().values()) * bytes_per_param
