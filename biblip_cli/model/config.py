"""`BioBlipConfig`: the model's hyper-parameters, saved as `config.json` beside the weights.

Its own module so that the encoders, the Q-former and the model all import it from below
(no module imports `biblip.py` back).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from biblip_cli.errors import BiblipError
from biblip_cli.features import inputs as I

# Feature layout the code was written for; a checkpoint must agree on every one.
CODE_DIMS = {
    "dna_vocab": I.DNA_VOCAB,
    "aa_vocab": I.AA_VOCAB,
    "gene_feature_dim": I.GENE_FEATURE_DIM,
    "protein_feature_dim": I.PROTEIN_FEATURE_DIM,
    "text_dim": I.TEXT_DIM,
    "max_genes": I.MAX_GENES,
    "max_snippets": I.MAX_SNIPPETS,
}


@dataclass
class BioBlipConfig:
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 8
    num_query_tokens: int = 32
    cross_attention_frequency: int = 1  # cross-attend every k-th layer (BLIP-2 uses 2)
    ffn_mult: int = 4
    dropout: float = 0.1
    modality_dropout: float = 0.15  # per example and modality, training only
    llm_hidden_size: int = 576  # SmolLM2-135M
    vtc_dim: int = 128
    encoder_channels: int = 48
    dna_length: int = 512  # 2 x FeatureBuilder.dna_flank; encoders pool, so other lengths still run
    dna_tokens: int = 8
    dna_stride: int = 8  # 8-mer patches before the convolutions (cost scales with length / stride)
    dna_blocks: int = 3
    protein_tokens: int = 4
    dna_vocab: str = I.DNA_VOCAB
    aa_vocab: str = I.AA_VOCAB
    gene_feature_dim: int = I.GENE_FEATURE_DIM
    protein_feature_dim: int = I.PROTEIN_FEATURE_DIM
    text_dim: int = I.TEXT_DIM
    max_genes: int = I.MAX_GENES
    max_snippets: int = I.MAX_SNIPPETS
    llm_name: str = "SmolLM2-135M-Instruct"
    llm_sha256: str = ""

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> BioBlipConfig:
        """tiny: tests; default: trains on a 2-core CPU, < 20 MiB fp16; large: GPUs.

        The default uses 4 queries: each prefix token costs one LLM token per allele, and on this CPU the
        LLM runs at ~300-500 tokens/s, so 4 + 3 tail tokens is what reaches ~50 alleles/s
        (see docs/benchmarks.md, "Model forward").
        """
        presets: dict[str, dict[str, Any]] = {
            "tiny": {"d_model": 32, "n_layers": 2, "n_heads": 4, "num_query_tokens": 4, "encoder_channels": 16,
                     "dna_tokens": 4, "dna_blocks": 2, "protein_tokens": 2, "vtc_dim": 16},
            "default": {"d_model": 256, "n_layers": 4, "n_heads": 8, "num_query_tokens": 4,
                        "cross_attention_frequency": 2},
            "large": {"d_model": 768, "n_layers": 12, "n_heads": 12, "num_query_tokens": 32,
                      "cross_attention_frequency": 2, "encoder_channels": 256, "dna_blocks": 6, "protein_tokens": 8},
        }  # fmt: skip
        if name not in presets:
            raise BiblipError(f"unknown preset {name!r}", hint=f"use one of {', '.join(presets)}")
        return replace(cls(**presets[name]), **overrides)

    def check_dims(self, where: str = "") -> None:
        for key, expected in CODE_DIMS.items():
            if getattr(self, key) != expected:
                raise BiblipError(
                    f"checkpoint was made for {key}={getattr(self, key)!r} but this biblip uses {expected!r}",
                    where=where,
                    hint="use a checkpoint trained with this biblip version, or retrain with `biblip train`",
                )
