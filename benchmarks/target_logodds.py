"""`biblip target`'s regulates log-odds two ways on the same pairs: per gene (`FrozenLLM.score` on each gene's
rows, what `Engine.regulates` did before `score_rows`) and batched (`Engine.regulates` now), with the time of each.

    python benchmarks/target_logodds.py [VCF] [--threads 1]

VCF default: the first 20 records of resources/demo.vcf.gz; noncoding alleles x genes with a TSS within 1 Mb.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from biblip_cli.bundle import Bundle
from biblip_cli.engine.engine import Engine
from biblip_cli.features.consequence import annotate_allele
from biblip_cli.features.elements import candidate_genes, is_coding, transcript_contig
from biblip_cli.io.vcf_read import alleles, open_vcf
from biblip_cli.model import prompts
from biblip_cli.paths import default_model_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vcf", nargs="?", default=None)
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bundle = Bundle.open(None)
    engine = Engine.load(bundle, default_model_dir(), batch_size=256)
    source = args.vcf or str(bundle.dir.parent / "demo.vcf.gz")
    anns, genes = [], []
    for number, variant, _ in open_vcf(source).records_text():
        if number > args.records:
            break
        for allele in alleles(variant, number):
            ann = annotate_allele(bundle, allele)
            contig = transcript_contig(bundle.transcripts, bundle.genome, allele.chrom)
            if is_coding(ann) or contig is None:
                continue
            for cand in candidate_genes(bundle.transcripts, contig, allele.start0, 1_000_000, 20):
                anns.append(ann)
                genes.append(cand.gene)
    started = time.perf_counter()
    batched = engine.regulates(anns, genes)
    t_batched = time.perf_counter() - started
    per_gene = np.zeros(len(genes))
    started = time.perf_counter()
    for gene in dict.fromkeys(genes):
        rows = [i for i, g in enumerate(genes) if g == gene]
        prompt = prompts.regulates_prompt(gene)
        inputs = engine.inputs([anns[i] for i in rows], [gene] * len(rows))
        with torch.inference_mode():
            prefix = engine.model.prefix(engine._z(inputs))
            scores = engine.llm.score(prefix, prompt.instruction, list(prompt.answers), tail=prompt.tail)
        per_gene[rows] = (scores[:, 0] - scores[:, 1]).numpy()
    t_per_gene = time.perf_counter() - started
    diff = np.abs(batched - per_gene)
    print(
        f"{len(genes)} pairs, {len(set(genes))} genes; max |d log-odds| {diff.max():.2e}, mean {diff.mean():.2e}, "
        f"sd of the log-odds {per_gene.std():.3f}"
    )
    print(
        f"per gene {t_per_gene:.1f} s ({len(genes) / t_per_gene:.1f} pairs/s); batched {t_batched:.1f} s "
        f"({len(genes) / t_batched:.1f} pairs/s); {args.threads} thread(s)"
    )


if __name__ == "__main__":
    main()
