"""The ranked VCF: the input again with each ALT's rank and score (BIOBLIP_RANK/BIOBLIP_SCORE)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from biblip_cli.io.vcf_write import VcfOutput
    from biblip_cli.ranking.candidates import Candidate, RankResult


def write_ranked_vcf(
    result: RankResult,
    source: str,
    target: str,
    output_type: str | None,
    command: str,
    *,
    overwrite_info: bool = False,
    lock: bool = True,
) -> VcfOutput:
    """The input again with BIOBLIP_RANK/BIOBLIP_SCORE per ALT (`.` for non-candidates), finished but not yet
    renamed into place: the caller commits it with the run's other outputs (or aborts them all)."""
    from biblip_cli.io.vcf_compress import infer_output_type
    from biblip_cli.io.vcf_header import add_command_header, add_rank_header, check_info_conflicts
    from biblip_cli.io.vcf_read import open_vcf, record_text
    from biblip_cli.io.vcf_write import VcfOutput

    by_record: dict[int, dict[int, Candidate]] = {}
    for c in result.candidates:
        by_record.setdefault(c.record_number, {})[c.allele.alt_index] = c
    kind = infer_output_type(str(target), output_type)
    reader = open_vcf(source)
    check_info_conflicts(reader, overwrite=overwrite_info)
    add_rank_header(reader)
    if command:
        add_command_header(reader, command)
    provenance = result.provenance.header_lines() if result.provenance is not None else []
    out = VcfOutput(target, reader, kind, provenance, lock=lock)
    try:
        for number, variant, original in reader.records_text():
            line = original if original is not None else record_text(variant)  # input bytes kept
            found = by_record.get(number)
            if found:
                n_alt = max(1, len(variant.ALT))
                ranks = [str(found[i].rank) if i in found else "." for i in range(n_alt)]
                scores = [f"{found[i].score:.4g}" if i in found else "." for i in range(n_alt)]
                cols = line.rstrip("\n").split("\t")
                cols[7] = _set_info(
                    cols[7], {"BIOBLIP_RANK": ",".join(ranks), "BIOBLIP_SCORE": ",".join(scores)}
                )
                line = "\t".join(cols) + "\n"
            out.write_text(line)
        out.finish()
    except BaseException:
        out.abort()
        raise
    finally:
        reader.close()
    return out


def _set_info(info: str, values: dict[str, str]) -> str:
    """INFO with `values` set: an input's own BIOBLIP_RANK/SCORE (a re-ranked file) are replaced, not doubled."""
    kept = [f for f in info.split(";") if f not in (".", "") and f.split("=", 1)[0] not in values]
    return ";".join(kept + [f"{k}={v}" for k, v in values.items()])
