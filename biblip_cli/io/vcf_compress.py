"""VCF output types and their encodings: bcftools' `-O` letters (`infer_output_type`, `check_output_type`),
bgzip (Bio.bgzf: `bgzf_writer`, `bgzip_file`, `bgzip_to_temp`), BCF through cyvcf2's `Writer` (`write_bcf`)
and the index (htslib's `bcf_index_build` through cyvcf2's shared library, else the `tabix` binary:
`index_vcf_gz`, `index_bcf`)."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import cyvcf2
from Bio import bgzf

from biblip_cli.errors import BiblipError
from biblip_cli.io.vcf_read import htslib, quiet_htslib

if TYPE_CHECKING:
    from biblip_cli.io.outputs import OutputFile

log = logging.getLogger(__name__)

# --- output types ----------------------------------------------------------------------------------

# bcftools' -O letters: v plain VCF, z bgzipped VCF, b compressed BCF, u uncompressed BCF
OUTPUT_TYPES: dict[str, str] = {"v": "plain VCF", "z": "bgzipped VCF", "b": "BCF", "u": "uncompressed BCF"}
OUTPUT_TYPE_HELP = "v = VCF, z = bgzipped VCF (+ .tbi), b = BCF, u = uncompressed BCF; default from the name"


def infer_output_type(output: str, output_type: str | None) -> str:
    """`-O` if given, else from the output name as bcftools does: `.bcf` -> b, `.gz`/`.bgz` -> z, else v."""
    if output_type:
        return output_type
    name = str(output)
    if name.endswith(".bcf"):
        return "b"
    return "z" if name.endswith((".gz", ".bgz")) else "v"


def check_output_type(output_type: str, write_index: bool = False) -> None:
    """A usage error for an unknown `-O` letter, or `--write-index` on an output that cannot be indexed."""
    from biblip_cli.errors import UsageError

    if output_type not in OUTPUT_TYPES:
        raise UsageError(
            f"unknown --output-type {output_type!r}",
            hint="use v (VCF), z (bgzipped VCF), b (BCF) or u (uncompressed BCF)",
        )
    if write_index and output_type not in ("z", "b"):
        raise UsageError(
            f"--write-index needs a compressed output (-O z or -O b), not -O {output_type}",
            hint="name the output .vcf.gz or .bcf, or pass -O z / -O b",
        )


def index_bcf(path: Path) -> Path | None:
    """Write `<path>.csi` (htslib, min_shift 14 as bcftools index); None (with a warning) when it fails."""
    csi = Path(str(path) + ".csi")
    lib = htslib()
    if lib is not None:
        quiet_htslib()
        if lib.bcf_index_build(str(path).encode(), 14) == 0 and csi.exists():
            return csi
    csi.unlink(missing_ok=True)
    log.warning("%s: no .csi index written (are the records sorted by position?); use `bcftools index`", path)
    return None


def write_bcf(text_vcf: Path, out: OutputFile, output_type: str) -> None:
    """Convert a finished text VCF into `out` as BCF with cyvcf2's Writer (`b` compressed, `u` not).

    A regular file is written into `out`'s temp file (the caller commits it: fsync + rename); stdout,
    devices and FIFOs are written through by htslib."""
    mode = "wb" if output_type == "b" else "wbu"
    if out.temp is not None:
        target = str(out.temp)
    else:
        out.flush()
        target = "-" if not out.owned else out.target
    quiet_htslib()
    reader = cyvcf2.VCF(str(text_vcf))
    try:
        writer = cyvcf2.Writer(target, reader, mode=mode)
        for variant in reader:
            writer.write_record(variant)
        writer.close()
    except OSError as err:
        raise BiblipError(f"cannot write BCF ({err})", where=out.where) from err
    finally:
        reader.close()


class _KeepOpen:
    """A binary stream whose close() only flushes: Bio.bgzf closes its handle, and ours is stdout or a
    temp file that still needs its fsync and rename."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw

    def write(self, data: bytes) -> int:
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        self.raw.flush()

    def fileno(self) -> int:
        return self.raw.fileno()


def bgzf_writer(raw: BinaryIO) -> bgzf.BgzfWriter:
    """Bio.bgzf's BGZF writer (what bgzip writes, with the EOF block) on an open stream it leaves open."""
    return bgzf.BgzfWriter(fileobj=_KeepOpen(raw))


def bgzip_file(src: Path, dst: Path) -> Path | None:
    """bgzip `src` into `dst` through the output layer (temp file + rename; no lock: the caller holds it)."""
    return bgzip_to_temp(src, dst).commit()


def bgzip_to_temp(src: Path, dst: Path) -> OutputFile:
    """bgzip `src` into a temp file beside `dst`, flushed and fsync'd: `commit()` renames it into place."""
    from biblip_cli.io.outputs import OutputFile

    out = OutputFile(dst, lock=False)
    try:
        with open(src, "rb") as plain:
            writer = bgzf_writer(out)  # type: ignore[arg-type]
            while chunk := plain.read(1 << 20):
                writer.write(chunk)
            writer.close()
        out.prepare()
    except BaseException:
        out.abort()
        raise
    return out


def index_vcf_gz(path: Path) -> Path | None:
    """Write `<path>.tbi`; returns it, or None (with a warning) when no indexer works."""
    tbi = Path(str(path) + ".tbi")
    lib = htslib()
    if lib is not None:
        quiet_htslib()
        if lib.bcf_index_build(str(path).encode(), 0) == 0 and tbi.exists():
            return tbi
    if shutil.which("tabix"):
        done = subprocess.run(["tabix", "-f", "-p", "vcf", str(path)], check=False, capture_output=True)
        if done.returncode == 0:
            return tbi
    tbi.unlink(missing_ok=True)
    log.warning(
        "%s: no tabix index written (the records are not sorted by position, or no indexer is available); "
        "sort with `bcftools sort` and index with `tabix -p vcf` if you need one",
        path,
    )
    return None
