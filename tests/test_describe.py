"""Generation from the prefix alone (model/describe.py): targets, the grammar's text, the factuality check."""

from __future__ import annotations

import random
from typing import ClassVar

from biblip_cli.evaluation.generation import function_hit, named_phenotypes, unsupported_claims
from biblip_cli.model.describe import NO_PHENOTYPES, TEMPLATES, DescribeFields, target_text


def test_targets_vary_the_wording_and_carry_every_field() -> None:
    rng = random.Random(0)
    texts = {
        target_text("Missense variant", "benign", "checkpoint kinase 2", ["Breast carcinoma"], rng)
        for _ in range(40)
    }
    assert len(texts) == len(TEMPLATES)  # each template drawn
    for text in texts:
        assert "issense variant" in text and "benign" in text and "checkpoint kinase 2" in text
        assert "breast carcinoma" in text  # phenotype names start lower case inside a sentence
    first = target_text("Stop-gained variant", "pathogenic", "", [], None)
    assert first == (
        "Stop-gained variant, likely pathogenic. The gene encodes a protein of unknown function. "
        f"Linked phenotypes: {NO_PHENOTYPES}."
    )


def test_decoded_fields_read_back() -> None:
    d = DescribeFields("Missense variant", "benign", "a kinase", "seizure, ataxia and hypotonia")
    assert (
        d.text()
        == "Missense variant, likely benign. The gene encodes a kinase. Linked phenotypes: seizure, ataxia and hypotonia."
    )
    assert d.phenotype_list() == ["seizure", "ataxia", "hypotonia"]
    assert DescribeFields("Missense variant", "benign", "x", NO_PHENOTYPES).phenotype_list() == []


class TinyOntology:
    """Seizure (1) is a parent of Focal seizure (2); Ataxia (3) is unrelated; 0 is the root."""

    names: ClassVar[dict[str, int]] = {
        "seizure": 1,
        "seizures": 1,
        "focal seizure": 2,
        "ataxia": 3,
        "phenotypic abnormality": 0,
    }

    def name_index(self) -> dict[str, int]:
        return self.names

    def gene_closure(self, gene: str) -> frozenset[int]:
        return frozenset({0, 1, 2}) if gene == "SCN1A" else frozenset()


def test_named_phenotypes_take_the_longest_match() -> None:
    onto = TinyOntology()
    assert named_phenotypes("Linked phenotypes: focal seizure, ataxia.", onto) == [2, 3]
    assert named_phenotypes("a phenotypic abnormality", onto) == []  # the root says nothing


def test_unsupported_claims_count_phenotypes_and_protein_classes() -> None:
    onto = TinyOntology()
    know = type(
        "K",
        (),
        {
            "name": "sodium voltage-gated channel alpha subunit 1",
            "summary": "",
            "go_terms": [],
            "diseases": [],
        },
    )()
    # the parent of an annotated term is supported; an unrelated phenotype and an unnamed class are not
    assert unsupported_claims("It causes seizures and ataxia.", "SCN1A", know, onto) == (2, 1)
    assert unsupported_claims("The gene encodes a channel.", "SCN1A", know, onto) == (1, 0)
    assert unsupported_claims("The gene encodes a kinase.", "SCN1A", know, onto) == (1, 1)
    assert unsupported_claims("Focal seizure.", "OTHER", know, None) == (0, 0)  # no ontology: not checked


def test_function_hit_needs_a_content_word_of_the_gene_name() -> None:
    know = type("K", (), {"name": "checkpoint kinase 2"})()
    assert function_hit("The gene encodes a kinase.", know) == 1.0
    assert function_hit("The gene encodes a protein.", know) == 0.0
    assert function_hit("anything", None) is None


def test_describe_head_learns_alone_and_resumes(tmp_path) -> None:
    """Only `describe_delta` moves; the loss on the training targets falls; a resumed run continues the
    step count from the saved state."""
    import torch
    from test_llm import HIDDEN, build_tiny_llm

    from biblip_cli.model.biblip import BioBlip
    from biblip_cli.model.config import BioBlipConfig
    from biblip_cli.model.llm import FrozenLLM
    from biblip_cli.training.describe_head import DescribeRecipe, describe_loss, train_describe_head

    torch.manual_seed(0)
    llm = FrozenLLM.load(build_tiny_llm(tmp_path / "llm"))
    model = BioBlip(BioBlipConfig.preset("tiny", llm_hidden_size=HIDDEN)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    z = torch.randn(4, model.config.num_query_tokens, model.config.d_model)
    targets = [f" Missense variant, likely {w}." for w in ("benign", "pathogenic", "benign", "pathogenic")]
    loss0 = float(describe_loss(model, llm, z, targets))
    recipe = DescribeRecipe(steps=30, batch_size=4, lr=3e-2, warmup=1, eval_every=15, save_every=10)
    state = tmp_path / "state.pt"
    history = train_describe_head(
        model, llm, z, lambda r, _: targets[r], z, targets, recipe, state_path=state
    )
    assert float(describe_loss(model, llm, z, targets)) < loss0
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("describe_delta.") for k in changed)
    assert history[-1]["step"] == 30 and "val_loss" in history[-1]
    longer = DescribeRecipe(steps=32, batch_size=4, lr=3e-2, warmup=1, eval_every=15, save_every=10)
    resumed = train_describe_head(
        model, llm, z, lambda r, _: targets[r], z, targets, longer, state, resume=True
    )
    assert [h["step"] for h in resumed[-2:]] == [31, 32]
